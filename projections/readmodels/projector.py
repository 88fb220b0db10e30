"""Applies log events to one generation's tables: a batch's rows and its log position
commit in one transaction (exactly once); users are evaluated from a queue of pending ones."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from ledger.application import Ledger
from ledger.clock import Clock
from ledger.domain.agreements import Agreement
from ledger.domain.base import LedgerEvent
from ledger.domain.end_users import EndUser
from ledger.domain.obligations import DataPartnerIntake, IdempotencyRecord
from ledger.domain.organisations import Agency, CoC
from ledger.domain.tokens import ApiToken
from ledger.errors import NotFound
from ledger.ids import entity_id
from projections.compliance.obligations import evaluate_intake
from projections.compliance.service import ComplianceService
from projections.compliance.timing import at_midnight
from projections.readmodels import rows
from projections.readmodels.db import ReadModelDb
from projections.readmodels.entities import Entities, agency_of, ref_of

# Internal records, served by no read model: idempotency keys, and API tokens (their hashes)
SKIPPED_TOPICS = frozenset(
    get_topic(cls) for cls in (IdempotencyRecord.Recorded, ApiToken.Issued, ApiToken.Revoked)
)


class Projector:
    """Keeps the tables of generation ``generation`` up to date with the log."""

    def __init__(
        self,
        ledger: Ledger,
        db: ReadModelDb,
        generation: int,
        clock: Clock,
        *,
        cache_size: int = 20_000,
        what_if: dict[str, str] | None = None,
    ) -> None:
        self.ledger = ledger
        self.db = db
        self.generation = generation
        self.clock = clock
        self.what_if = dict(what_if or {})
        self.entities = Entities(ledger, db, generation, cache_size)
        self.compliance = ComplianceService(ledger, load=self.entities.get)
        self.position = db.position(generation)
        t = {
            name: db.table(db.prefix(generation) + name)
            for name in ("entities", "audit", "users", "calendar", "agencies", "regions", "pending")
        }
        self.t = t
        self.sql = {
            "entity": f"INSERT INTO {t['entities']} VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET agency_ref = excluded.agency_ref, "
            "version = excluded.version, position = excluded.position",
            "audit": f"INSERT INTO {t['audit']} VALUES ({', '.join('?' * 15)})",
            "pending": f"INSERT INTO {t['pending']} VALUES (?, ?, ?) "
            "ON CONFLICT (entity_id) DO NOTHING",
            "pending_of": f"INSERT INTO {t['pending']} SELECT id, coc, ref FROM "
            f"{t['entities']} WHERE coc = ? AND kind = 'user' AND (? OR agency_ref = ?) "
            "ON CONFLICT (entity_id) DO NOTHING",
            "members": f"SELECT id FROM {t['entities']} WHERE coc = ? AND agency_ref = ? "
            "AND kind = ?",
            "agency": f"INSERT INTO {t['agencies']} VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (coc, ref) DO UPDATE SET summary = excluded.summary, "
            "position = excluded.position",
            "regions_clear": f"DELETE FROM {t['regions']} WHERE coc = ? AND agency_ref = ?",
            "region": f"INSERT INTO {t['regions']} VALUES (?, ?, ?, ?, ?, ?)",
            "calendar_clear": f"DELETE FROM {t['calendar']} WHERE coc = ? "
            "AND subject_kind = ? AND subject_ref = ?",
            "calendar": f"INSERT INTO {t['calendar']} VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            "user": f"INSERT INTO {t['users']} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (coc, ref) DO UPDATE SET agency_ref = excluded.agency_ref, "
            "overall = excluded.overall, hmis_role = excluded.hmis_role, "
            "policy_version = excluded.policy_version, as_of = excluded.as_of, "
            "valid_until = excluded.valid_until, position = excluded.position, "
            "evaluation = excluded.evaluation",
            "next_pending": f"SELECT entity_id, coc, ref FROM {t['pending']} "
            "ORDER BY entity_id LIMIT ?",
            "done": f"DELETE FROM {t['pending']} WHERE entity_id = ?",
            "stale": f"INSERT INTO {t['pending']} SELECT entity_id, coc, ref FROM {t['users']} "
            "WHERE valid_until IS NOT NULL AND valid_until <= ? "
            "ON CONFLICT (entity_id) DO NOTHING",
            "pending_count": f"SELECT COUNT(*) FROM {t['pending']}",
        }

    # --- events --------------------------------------------------------------------------

    def apply(self, notifications: Sequence[Notification]) -> int:
        """Apply a batch (in log order) and record its last position, all in one transaction.
        Returns the new position."""
        if not notifications:
            return self.position
        last = notifications[-1].id
        to_domain_event = self.ledger.mapper.to_domain_event
        try:
            with self.db.transaction() as cursor:
                self.entities.cursor = cursor
                audit: list[tuple[Any, ...]] = []
                positions: dict[UUID, int] = {}
                refs = self.entities.refs
                for notification in notifications:
                    if notification.topic in SKIPPED_TOPICS:
                        continue
                    event = to_domain_event(notification)
                    assert isinstance(event, LedgerEvent)
                    aggregate = self.entities.apply(event)
                    positions[aggregate.id] = notification.id
                    ref = refs.get(aggregate.id) or refs.setdefault(aggregate.id, ref_of(aggregate))
                    audit.append(
                        rows.audit_row(notification.id, aggregate, ref, event, notification.state)
                    )
                self._write_entities(cursor, positions)
                self.db.executemany(cursor, self.sql["audit"], audit)
                self._derive(cursor, positions)
                self.db.record_position(cursor, self.generation, last)
        except BaseException:
            self.entities.reset()
            raise
        finally:
            self.entities.cursor = None
        self.entities.written()
        self.position = last
        return last

    def _write_entities(self, cursor: Any, positions: dict[UUID, int]) -> None:
        touched, refs = self.entities.touched, self.entities.refs
        self.db.executemany(
            cursor,
            self.sql["entity"],
            [
                (a.id.hex, a.coc, a.kind, refs[a.id], agency_of(a), a.version, positions[a.id])
                for a in (touched[i] for i in positions)
            ],
        )

    def _derive(self, cursor: Any, positions: dict[UUID, int]) -> None:
        """Rows that depend on the entities the batch changed, and the users to evaluate."""
        agencies: set[tuple[str, str]] = set()
        pending: list[tuple[str, str, str]] = []
        for aggregate_id in positions:
            aggregate = self.entities.touched[aggregate_id]
            if isinstance(aggregate, EndUser):
                pending.append((aggregate.id.hex, aggregate.coc, aggregate.ref))
            elif isinstance(aggregate, Agency | Agreement):
                agency_ref = agency_of(aggregate)
                assert agency_ref is not None
                agencies.add((aggregate.coc, agency_ref))
            elif isinstance(aggregate, CoC):
                self.db.execute(cursor, self.sql["pending_of"], (aggregate.coc, True, ""))
            elif isinstance(aggregate, DataPartnerIntake):
                self._intake_calendar(cursor, aggregate)
        self.db.executemany(cursor, self.sql["pending"], pending)
        for coc, agency_ref in sorted(agencies):
            self._agency(cursor, coc, agency_ref)
            self.db.execute(cursor, self.sql["pending_of"], (coc, False, agency_ref))

    def _agency(self, cursor: Any, coc: str, agency_ref: str) -> None:
        agency = self.entities.get(Agency, entity_id(Agency.kind, coc, agency_ref))
        if agency is None:
            return
        agreements = self._agreements(cursor, coc, agency_ref)
        now = self.clock.now()
        summary = rows.agency_summary(agency, agreements, now)
        self.db.execute(
            cursor,
            self.sql["agency"],
            (coc, agency_ref, agency.id.hex, rows.dumps(summary), self.position),
        )
        self.db.execute(cursor, self.sql["regions_clear"], (coc, agency_ref))
        self.db.executemany(cursor, self.sql["region"], rows.region_rows(agency, agreements, now))

    def _agreements(self, cursor: Any, coc: str, agency_ref: str) -> list[Agreement]:
        found = []
        for (hex_id,) in self.db.query(cursor, self.sql["members"], (coc, agency_ref, "agreement")):
            agreement = self.entities.get(Agreement, UUID(hex_id))
            if agreement is not None:
                found.append(agreement)
        return sorted(found, key=lambda a: a.drafted.ref)

    def _intake_calendar(self, cursor: Any, intake: DataPartnerIntake) -> None:
        ref = ref_of(intake)
        self.db.execute(cursor, self.sql["calendar_clear"], (intake.coc, "intake", ref))
        tenant = self.entities.get(CoC, entity_id(CoC.kind, intake.coc))
        now = self.clock.now()
        if tenant is None or tenant.policy_in_force(now.date()) is None:
            return
        compiled, _, _ = self.compliance.policy_at(tenant, now.date())
        status = evaluate_intake(intake, compiled.pack, now)
        self.db.executemany(
            cursor,
            self.sql["calendar"],
            rows.calendar_rows(intake.coc, "intake", ref, agency_of(intake), (status,)),
        )

    # --- users ---------------------------------------------------------------------------

    def pending(self) -> int:
        return int(self.db.fetchall(self.sql["pending_count"])[0][0])

    def mark_stale(self) -> None:
        """Queue users whose status changes by itself by now (a certificate expiring)."""
        with self.db.transaction() as cursor:
            self.db.execute(cursor, self.sql["stale"], (rows.iso(self.clock.now()),))

    def evaluate_pending(self, chunk: int = 500) -> int:
        """Evaluate up to ``chunk`` queued users in one transaction; returns how many."""
        try:
            with self.db.transaction() as cursor:
                self.entities.cursor = cursor
                queued = self.db.query(cursor, self.sql["next_pending"], (chunk,))
                users: list[tuple[Any, ...]] = []
                calendar: list[tuple[Any, ...]] = []
                clear: list[tuple[str, str, str]] = []
                for hex_id, coc, ref in queued:
                    user = self.entities.get(EndUser, UUID(hex_id))
                    if user is not None:
                        users.append(self._user_row(user, calendar))
                        clear.append((coc, "user", ref))
                self.db.executemany(cursor, self.sql["calendar_clear"], clear)
                self.db.executemany(cursor, self.sql["calendar"], calendar)
                self.db.executemany(cursor, self.sql["user"], users)
                self.db.executemany(cursor, self.sql["done"], [(q[0],) for q in queued])
        except BaseException:
            self.entities.reset()
            raise
        finally:
            self.entities.cursor = None
        return len(queued)

    def _user_row(self, user: EndUser, calendar: list[tuple[Any, ...]]) -> tuple[Any, ...]:
        now = self.clock.now()
        agency_ref = user.agency_ref
        try:
            evaluation = self.compliance.evaluate_user(
                user.coc, user.ref, now, version=self.what_if.get(user.coc)
            )
        except NotFound:
            tenant = self.entities.get(CoC, entity_id(CoC.kind, user.coc))
            later = [a.effective_from for a in tenant.adoptions()] if tenant else []
            starts = min((d for d in later if d > now.date()), default=None)
            return rows.unevaluated_user_row(
                user.coc,
                user.ref,
                user.id.hex,
                agency_ref,
                now,
                at_midnight(starts) if starts else None,
                self.position,
            )
        calendar += rows.calendar_rows(user.coc, "user", user.ref, agency_ref, evaluation.clauses)
        return rows.user_row(user.coc, user.ref, user.id.hex, agency_ref, evaluation, self.position)
