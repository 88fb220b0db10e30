"""Deterministic entity ids: uuid5 of a natural key, so a duplicate create fails atomically."""

from __future__ import annotations

from functools import lru_cache
from uuid import UUID, uuid5

NAMESPACE = UUID("6f1d3c52-6a55-4c43-9d5a-2d1f0c0b9e11")


@lru_cache(maxsize=65_536)
def entity_id(kind: str, coc: str, *key: str) -> UUID:
    """The id of an entity of ``kind`` in CoC ``coc`` named by ``key``."""
    return uuid5(NAMESPACE, "/".join((kind, coc, *key)))
