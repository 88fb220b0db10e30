"""Helpers for read-model tests: build, follow and compare generations."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from api.models import UserStatus
from ledger.application import Ledger
from ledger.clock import Clock
from ledger.domain.base import LedgerAggregate
from ledger.domain.obligations import IdempotencyRecord
from ledger.errors import NotFound
from projections.compliance.service import ComplianceService
from projections.readmodels import generations, rows
from projections.readmodels.db import TABLES, ReadModelDb
from projections.readmodels.entities import ref_of
from projections.readmodels.follower import Follower

# columns that say when a row was written rather than what it says (a user untouched by
# later events keeps the time of its last evaluation; a rebuild evaluates everyone now)
_WHEN = {"position", "as_of"}


def snapshot(db: ReadModelDb, generation: int) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of a generation as sorted rows, without the write-time columns."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    for name, (columns, _) in TABLES.items():
        names = [c.split()[0] for c in columns.split(", PRIMARY KEY")[0].split(", ")]
        # as the generation has them (one made by an older version may have fewer)
        present = db.columns(db.prefix(generation) + name)
        names = [c for c in names if c in present]
        # an event's position is part of the audit trail's content
        kept = names if name == "audit" else [c for c in names if c not in _WHEN]
        found = db.fetchall(
            f"SELECT {', '.join(kept)} FROM {db.table(db.prefix(generation) + name)}"
        )
        if name == "users":
            at, answer = kept.index("evaluation"), kept.index("answer") if "answer" in kept else -1
            found = [
                tuple(
                    _without_as_of(v) if i == at else _answer_without_as_of(v) if i == answer else v
                    for i, v in enumerate(r)
                )
                for r in found
            ]
        tables[name] = sorted(found, key=repr)
    return tables


def _without_as_of(evaluation: str) -> Any:
    loaded = orjson.loads(evaluation)
    loaded.pop("as_of", None)
    return loaded


def _answer_without_as_of(answer: str) -> Any:
    loaded = orjson.loads(answer)
    loaded.pop("evaluated")
    if loaded["evaluation"] is not None:
        loaded["evaluation"].pop("as_of")
    return loaded


def drop_user_counting(db: ReadModelDb, generation: int) -> None:
    """Leave a generation as a version before agency counts were kept left it: no
    ``user_counts`` table, no triggers keeping it."""
    prefix = db.prefix(generation)
    with db.transaction() as cursor:
        db.execute(cursor, f"DROP TABLE {db.table(prefix + 'user_counts')}")
        if db.postgres:
            db.execute(cursor, f"DROP FUNCTION {db.table(prefix + 'count_users')}() CASCADE")
        else:
            for trigger in ("users_counted_in", "users_counted_out", "users_recounted"):
                db.execute(cursor, f"DROP TRIGGER {prefix}{trigger}")


def rebuilt(ledger: Ledger, db: ReadModelDb, clock: Clock, **options: Any) -> int:
    """A new generation built from the whole log (not switched)."""
    number = generations.begin(db, clock.now(), "test rebuild")
    Follower(ledger, db, number, clock, **options).catch_up()
    return number


def assert_agrees_with_the_store(
    ledger: Ledger, db: ReadModelDb, generation: int, now: datetime
) -> None:
    """A caught-up generation against answers worked out here from the store's own events
    (not from the projector's code): every audit line, and every user's evaluation; and the
    user counts its triggers kept against the users table counted."""
    prefix = db.prefix(generation)
    columns = ", ".join(f"a.{c.split()[0]}" for c in TABLES["audit"][0].split(", "))
    audit = db.fetchall(  # each line with its event as stored, from the log
        f"SELECT {columns}, log.state FROM {db.table(prefix + 'audit')} a {db.log_join('a')} "
        "ORDER BY a.position"
    )
    assert audit == _expected_audit(ledger)
    compliance = ComplianceService(ledger)
    found = db.fetchall(
        f"SELECT coc, ref, agency_ref, overall, hmis_role, as_of, evaluation, answer "
        f"FROM {db.table(prefix + 'users')}"
    )
    assert len(found) == sum(1 for row in audit if row[6] == "EndUser.Registered")
    users = [
        (coc, ref, agency_ref, overall, evaluation)
        for coc, ref, agency_ref, overall, *_, evaluation, _ in found
    ]
    said = ("coc", "ref", "agency_ref", "overall", "hmis_role", "evaluated")
    for *columns, evaluation, answer in found:
        # the answer a read renders as it is: the route's answer, saying what the columns say
        loaded = orjson.loads(answer)
        UserStatus.model_validate(loaded)
        assert [loaded[name] for name in said] == columns
        assert loaded["evaluation"] == (None if evaluation == "{}" else orjson.loads(evaluation))
    for coc, ref, agency_ref, overall, evaluation in users:
        assert agency_ref == compliance.user(coc, ref).agency_ref
        try:
            expected = compliance.evaluate_user(coc, ref, now).as_dict()
        except NotFound:
            assert overall == rows.NO_POLICY
            continue
        assert _without_as_of(evaluation) == _without_as_of(rows.dumps(expected))
    counted = Counter((coc, agency_ref or "", overall) for coc, _, agency_ref, overall, _ in users)
    kept = db.fetchall(
        f"SELECT coc, agency_ref, overall, users FROM {db.table(prefix + 'user_counts')}"
    )
    assert {(coc, agency, overall): n for coc, agency, overall, n in kept} == counted


def _expected_audit(ledger: Ledger) -> list[tuple[Any, ...]]:
    expected: list[tuple[Any, ...]] = []
    aggregates: dict[UUID, Any] = {}
    corrections = (LedgerAggregate.EventRetracted, LedgerAggregate.EventAmended)
    for notification in ledger.recorder.select_notifications(start=1, limit=1_000_000):
        event: Any = ledger.mapper.to_domain_event(notification)
        if isinstance(event, IdempotencyRecord.Event):
            continue
        aggregate = aggregates[event.originator_id] = event.mutate(
            aggregates.get(event.originator_id)
        )
        corrects = None
        if isinstance(event, corrections):
            corrects = next(
                f.originator_version for f in aggregate._facts if f.event_id == event.corrects
            )
        expected.append(
            (
                notification.id,
                event.originator_id.hex,
                event.originator_version,
                event.coc,
                aggregate.kind,
                ref_of(aggregate),
                type(event).__qualname__,
                corrects,
                notification.state,
            )
        )
    return expected
