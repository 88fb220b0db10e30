"""``IN (...)`` lists of few shapes. A statement is prepared again for every text it comes
in (the sqlite3 module's statement cache and psycopg's prepared statements are keyed by the
text), and ``IN (?, ?, ...)`` has a text for every length: under the write mix the service
parsed about four such statements per write. Padded to the next power of two with its last
value repeated, which changes nothing an ``IN`` matches, a list of up to N values comes in
log2(N) + 1 texts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def in_list(values: Sequence[T]) -> tuple[str, list[T]]:
    """The placeholders (``?, ?, ...``) and the values of ``IN (...)`` for ``values``, padded
    to a power of two. ``values`` must not be empty (``IN ()`` is no SQL)."""
    if not values:
        raise ValueError("an IN list needs at least one value")
    size = 1 << (len(values) - 1).bit_length()
    return ", ".join("?" * size), [*values, *[values[-1]] * (size - len(values))]
