"""Helpers for read-model tests: build, follow and compare generations."""

from __future__ import annotations

from typing import Any

import orjson

from ledger.application import Ledger
from ledger.clock import Clock
from projections.readmodels import generations
from projections.readmodels.db import TABLES, ReadModelDb
from projections.readmodels.follower import Follower

# columns that say when a row was written rather than what it says (a user untouched by
# later events keeps the time of its last evaluation; a rebuild evaluates everyone now)
_WHEN = {"position", "as_of"}


def snapshot(db: ReadModelDb, generation: int) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of a generation as sorted rows, without the write-time columns."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    for name, (columns, _) in TABLES.items():
        names = [c.split()[0] for c in columns.split(", PRIMARY KEY")[0].split(", ")]
        # an event's position is part of the audit trail's content
        kept = names if name == "audit" else [c for c in names if c not in _WHEN]
        found = db.fetchall(
            f"SELECT {', '.join(kept)} FROM {db.table(db.prefix(generation) + name)}"
        )
        if name == "users":
            at = kept.index("evaluation")
            found = [(*r[:at], _without_as_of(r[at]), *r[at + 1 :]) for r in found]
        tables[name] = sorted(found, key=repr)
    return tables


def _without_as_of(evaluation: str) -> Any:
    loaded = orjson.loads(evaluation)
    loaded.pop("as_of", None)
    return loaded


def rebuilt(ledger: Ledger, db: ReadModelDb, clock: Clock, **options: Any) -> int:
    """A new generation built from the whole log (not switched)."""
    number = generations.begin(db, clock.now(), "test rebuild")
    Follower(ledger, db, number, clock, **options).catch_up()
    return number
