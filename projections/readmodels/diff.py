"""What a switch of generations changes: who changed status, from what to what, under which
clauses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from projections.readmodels.db import ReadModelDb


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

    def summary(self) -> dict[str, Any]:
        return {
            "users_before": self.users_before,
            "users_after": self.users_after,
            "changed": len(self.changes),
            "status_changed": sum(1 for c in self.changes if c.before != c.after),
        }


def _users(
    db: ReadModelDb, generation: int | None
) -> dict[tuple[str, str], tuple[str, dict[str, str]]]:
    if generation is None:
        return {}
    found = db.fetchall(
        f"SELECT coc, ref, overall, evaluation FROM {db.table(db.prefix(generation) + 'users')}"
    )
    users = {}
    for coc, ref, overall, evaluation in found:
        clauses = orjson.loads(evaluation).get("clauses", [])
        users[(coc, ref)] = (overall, {c["clause"]: c["state"] for c in clauses})
    return users


def diff_generations(db: ReadModelDb, old: int | None, new: int) -> GenerationDiff:
    """Users whose overall status or any clause state differs between the generations."""
    before, after = _users(db, old), _users(db, new)
    result = GenerationDiff(users_before=len(before), users_after=len(after))
    for key in sorted(before.keys() | after.keys()):
        was, now = before.get(key), after.get(key)
        old_clauses = was[1] if was else {}
        new_clauses = now[1] if now else {}
        clauses = tuple(
            (c, old_clauses.get(c), new_clauses.get(c))
            for c in sorted(old_clauses.keys() | new_clauses.keys())
            if old_clauses.get(c) != new_clauses.get(c)
        )
        overall_before, overall_after = (was[0] if was else None), (now[0] if now else None)
        if clauses or overall_before != overall_after:
            result.changes.append(
                StatusChange(key[0], key[1], overall_before, overall_after, clauses)
            )
    return result
