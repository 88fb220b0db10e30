"""Generations of the read models: one is current (readers use it), a new one is built side
by side, and a switch makes it current in one transaction."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from projections.readmodels.db import GENERATIONS, ReadModelDb

BUILDING, CURRENT, RETIRED = "building", "current", "retired"


class Generation(NamedTuple):
    number: int
    status: str
    created_at: str
    switched_at: str | None
    note: str


def generations(db: ReadModelDb) -> list[Generation]:
    found = db.fetchall(
        f"SELECT generation, status, created_at, switched_at, note FROM {db.table(GENERATIONS)} "
        "ORDER BY generation"
    )
    return [Generation(*row) for row in found]


def current(db: ReadModelDb) -> int | None:
    """The generation readers use (None before the first was made)."""
    return next((g.number for g in generations(db) if g.status == CURRENT), None)


def building(db: ReadModelDb) -> int | None:
    """A generation being built side by side, if there is one (a rebuild resumes it)."""
    return next((g.number for g in reversed(generations(db)) if g.status == BUILDING), None)


def begin(db: ReadModelDb, now: datetime, note: str, *, status: str = BUILDING) -> int:
    """Create the tables of a new generation."""
    with db.creating_tables(), db.transaction() as cursor:
        rows = db.query(cursor, f"SELECT MAX(generation) FROM {db.table(GENERATIONS)}")
        number = int(rows[0][0] or 0) + 1
        db.execute(
            cursor,
            f"INSERT INTO {db.table(GENERATIONS)} VALUES (?, ?, ?, ?, ?)",
            (number, status, now.isoformat(), now.isoformat() if status == CURRENT else None, note),
        )
        db.clear_position(cursor, number)
        db.create_generation_tables(cursor, number)
        db.compress_documents(cursor, number)
    return number


def ensure_current(db: ReadModelDb, now: datetime) -> int:
    """The current generation, made (empty, to be filled from the log) if there is none:
    by one process, when several start on a new store together."""
    found = current(db)
    if found is not None:
        return found
    with db.creating_tables():
        found = current(db)  # made by another process while this one waited
        return found if found is not None else begin(db, now, "first generation", status=CURRENT)


def switch(db: ReadModelDb, number: int, now: datetime) -> int | None:
    """Make ``number`` current and the previous one retired, atomically. Returns the
    previous generation. Its tables stay until the next switch, so a reader that looked up
    the generation just before the switch still finds them."""
    previous = current(db)
    with db.transaction() as cursor:
        table = db.table(GENERATIONS)
        for (old,) in db.query(
            cursor, f"SELECT generation FROM {table} WHERE status = ?", (RETIRED,)
        ):
            db.drop_generation_tables(cursor, int(old))
        db.execute(cursor, f"DELETE FROM {table} WHERE status = ?", (RETIRED,))
        db.execute(cursor, f"UPDATE {table} SET status = ? WHERE status = ?", (RETIRED, CURRENT))
        db.execute(
            cursor,
            f"UPDATE {table} SET status = ?, switched_at = ? WHERE generation = ?",
            (CURRENT, now.isoformat(), number),
        )
    return previous


def discard(db: ReadModelDb, number: int) -> None:
    """Drop a generation that is not current (a dry run's, or an abandoned build)."""
    if number == current(db):
        raise ValueError(f"generation {number} is current and cannot be discarded")
    with db.transaction() as cursor:
        db.drop_generation_tables(cursor, number)
        db.clear_position(cursor, number)
        db.execute(cursor, f"DELETE FROM {db.table(GENERATIONS)} WHERE generation = ?", (number,))
