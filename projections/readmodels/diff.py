"""What a switch of generations changes: who changed status, from what to what, under which
clauses."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from projections.readmodels.db import ReadModelDb

# users read at a time from each generation: memory stays flat however many users there are
# (a whole table at once held every user's evaluation text, about 5 KB each, twice)
PAGE = 500

Clauses = dict[str, str]  # clause -> state


@dataclass(frozen=True)
class StatusChange:
    coc: str
    ref: str
    before: str | None  # None: the user is new in the new generation
    after: str | None  # None: the user is gone from it
    clauses: tuple[tuple[str, str | None, str | None], ...]  # (clause, before, after)

    def line(self) -> str:
        head = f"{self.coc} {self.ref}: {self.before or '(absent)'} -> {self.after or '(absent)'}"
        if not self.clauses:
            return head
        return (
            head
            + " under "
            + "; ".join(f"{c} {b or '(none)'} -> {a or '(none)'}" for c, b, a in self.clauses)
        )


@dataclass
class GenerationDiff:
    users_before: int = 0
    users_after: int = 0
    changes: list[StatusChange] = field(default_factory=list)

    def add(
        self, key: tuple[str, str], was: tuple[str, Clauses] | None, now: tuple[str, Clauses] | None
    ) -> None:
        """Note a user's change, if it changed: ``was`` and ``now`` are its overall status
        and clause states before and after (None: not in that generation)."""
        old_clauses = was[1] if was else {}
        new_clauses = now[1] if now else {}
        clauses = tuple(
            (c, old_clauses.get(c), new_clauses.get(c))
            for c in sorted(old_clauses.keys() | new_clauses.keys())
            if old_clauses.get(c) != new_clauses.get(c)
        )
        before, after = (was[0] if was else None), (now[0] if now else None)
        if clauses or before != after:
            self.changes.append(StatusChange(key[0], key[1], before, after, clauses))

    def summary(self) -> dict[str, Any]:
        return {
            "users_before": self.users_before,
            "users_after": self.users_after,
            "changed": len(self.changes),
            "status_changed": sum(1 for c in self.changes if c.before != c.after),
        }


def _statuses(rows: list[tuple[Any, ...]]) -> dict[tuple[str, str], tuple[str, Clauses]]:
    """(coc, ref) -> (overall status, state of each clause) of users rows."""
    users = {}
    for coc, ref, overall, evaluation in rows:
        clauses = orjson.loads(evaluation).get("clauses", [])
        users[(coc, ref)] = (overall, {c["clause"]: c["state"] for c in clauses})
    return users


def _pages(db: ReadModelDb, table: str, columns: str) -> Iterator[list[tuple[Any, ...]]]:
    """The rows of a users table (``columns`` of it named ``u``), ``PAGE`` at a time in the
    order of its key (coc, ref)."""
    after: tuple[Any, ...] = ("", "")
    while found := db.fetchall(
        f"SELECT {columns} FROM {table} u WHERE (u.coc, u.ref) > (?, ?) "
        "ORDER BY u.coc, u.ref LIMIT ?",
        (*after, PAGE),
    ):
        yield found
        after = found[-1][:2]


def _of(
    db: ReadModelDb, table: str, columns: str, keys: list[tuple[str, str]]
) -> list[tuple[Any, ...]]:
    """The rows of a users table (``columns`` of it named ``u``) with these keys (coc, ref)."""
    marks = ", ".join(["(?, ?)"] * len(keys))
    return db.fetchall(
        f"SELECT {columns} FROM {table} u JOIN (VALUES {marks}) AS k "
        "ON u.coc = k.column1 AND u.ref = k.column2",
        [value for key in keys for value in key],
    )


def diff_generations(db: ReadModelDb, old: int | None, new: int) -> GenerationDiff:
    """Users whose overall status or any clause state differs between the generations,
    in order of (coc, ref). Each generation is read a page at a time: the new one's users
    beside the old one's of the same keys, then the old one's keys for users gone."""
    result = GenerationDiff()
    columns = "u.coc, u.ref, u.overall, u.evaluation"
    new_users = db.table(db.prefix(new) + "users")
    old_users = db.table(db.prefix(old) + "users") if old is not None else None
    for page in _pages(db, new_users, columns):
        after = _statuses(page)
        keys = list(after)
        before = _statuses(_of(db, old_users, columns, keys)) if old_users else {}
        result.users_after += len(after)
        for key in keys:
            result.add(key, before.get(key), after[key])
    if old_users is not None:
        for page in _pages(db, old_users, "u.coc, u.ref"):
            keys = [(coc, ref) for coc, ref in page]
            kept = {(coc, ref) for coc, ref in _of(db, new_users, "u.coc, u.ref", keys)}
            result.users_before += len(keys)
            gone = [key for key in keys if key not in kept]
            if gone:
                for key, status in _statuses(_of(db, old_users, columns, gone)).items():
                    result.add(key, status, None)
    result.changes.sort(key=lambda c: (c.coc, c.ref))
    return result
