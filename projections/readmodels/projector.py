"""Applies log events to one generation's tables: a batch's rows and its log position
commit in one transaction (exactly once). What the batch made stale is queued: agencies and
intakes to derive again, users to evaluate; the queues are worked through once the
follower has caught up, so a user is evaluated once however many of its events arrived."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.persistence import Notification

from ledger.application import Ledger
from ledger.clock import Clock
from ledger.domain.agreements import Agreement
from ledger.domain.end_users import EndUser
from ledger.domain.obligations import DataPartnerIntake
from ledger.domain.organisations import Agency, CoC
from ledger.errors import NotFound
from ledger.ids import entity_id
from ledger.sql_lists import in_list
from projections.compliance.obligations import evaluate_intake
from projections.compliance.service import ComplianceService
from projections.compliance.timing import at_midnight
from projections.readmodels import rows
from projections.readmodels.db import OLD_PAYLOAD_COLUMN, TABLES, ReadModelDb
from projections.readmodels.entities import (
    EVENTS_KEPT,
    Entities,
    EntitiesAtPosition,
    agency_of,
    ref_of,
)
from projections.readmodels.events import EventClass, event_class, line_event

CHUNK = 500  # users evaluated, or keys looked up, per statement
REFS_KEPT = 200_000  # natural keys (and agencies) remembered across batches
CALENDAR_SUBJECT = ("coc", "subject_kind", "subject_ref")  # whose calendar rows they are


class Evaluated(NamedTuple):
    """The rows of some evaluated users, to be written in one transaction."""

    queued: list[str]  # entity ids taken off the queue
    users: list[tuple[Any, ...]]
    calendar: list[tuple[Any, ...]]
    cleared: list[tuple[str, str, str]]  # calendar subjects whose rows are replaced
    # each user's row of the entities table: id, coc, ref, agency, version, last position
    states: list[tuple[str, str, str, str | None, int, int]]


class Derived(NamedTuple):
    """The rows of some derived agencies and intakes, to be written in one transaction."""

    queued: list[str]  # entity ids taken off the derive queue
    agencies: list[tuple[Any, ...]]
    regions_cleared: list[tuple[str, str]]  # (coc, agency ref): their region rows replaced
    regions: list[tuple[Any, ...]]
    calendar_cleared: list[tuple[str, str, str]]  # calendar subjects whose rows are replaced
    calendar: list[tuple[Any, ...]]
    users_of: list[tuple[str, str]]  # (coc, agency ref): their users to evaluate again


class Key(NamedTuple):
    """What never changes of an entity: its natural key, (but for a user) its agency, and
    its CoC."""

    ref: str
    agency: str | None
    coc: str


class Touched(NamedTuple):
    """An entity a batch changed: by which class of event last, and where it is now."""

    event: EventClass
    coc: str
    version: int
    position: int
    created: bool  # by an event of this batch


def _entity_hex(notification: Notification) -> str:
    """The id (hex) of the entity whose event a notification is (eventsourcing's recorders
    give it as a UUID; their type allows text)."""
    originator = notification.originator_id
    return originator.hex if isinstance(originator, UUID) else UUID(originator).hex


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
        users_kept: int = 0,
        at_position: int | None = None,
        events_kept: int = EVENTS_KEPT,
    ) -> None:
        """``at_position``: evaluate users as they stood at that log position, reading them
        and what their evaluation needs from the store (see ``EntitiesAtPosition``);
        ``cache_size`` entities holding at most ``events_kept`` events are kept in memory."""
        self.ledger = ledger
        self.db = db
        self.generation = generation
        self.clock = clock
        self.what_if = dict(what_if or {})
        self.entities = (
            Entities(ledger, db, generation, cache_size, users_kept, events_kept)
            if at_position is None
            else EntitiesAtPosition(ledger, db, generation, at_position, events_kept)
        )
        self.compliance = ComplianceService(ledger, load=self.entities.get)
        self.position = db.position(generation)
        self.keys: dict[str, Key] = {}  # by entity id (hex)
        # loading in bulk: the audit trail's entity index is made afterwards (see db.py), and
        # no entity is kept in memory (see ``apply``)
        self.bulk = False
        # evaluating ahead: the workers evaluate every user at the log's head meanwhile, so an
        # event queues its user only when it creates it (see ``begin_ahead``)
        self.ahead = False
        db.add_missing_tables(generation)
        t = {name: db.table(db.prefix(generation) + name) for name in TABLES}
        # a generation made before users rows held their answers is followed in its own
        # shape, without them (queries.py reads it so); a rebuild makes the new one
        user_columns = db.columns(db.prefix(generation) + "users")
        self.answers = "answer" in user_columns
        user_values = ", ".join("?" * len(user_columns))
        # and one made before audit lines were read from the log holds the event's fields in
        # them (db.OLD_EVENT_COLUMNS), the oldest a copy of the event as stored too
        audit_columns = db.columns(db.prefix(generation) + "audit")
        self.event_fields = "actor" in audit_columns
        self.audit_copies = OLD_PAYLOAD_COLUMN in audit_columns
        self.tables = t
        self.sql = {
            "entity": f"INSERT INTO {t['entities']} VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET agency_ref = excluded.agency_ref, "
            "version = excluded.version, position = excluded.position",
            "user_entity": f"INSERT INTO {t['entities']} VALUES (?, ?, 'user', ?, NULL, ?, ?) "
            "ON CONFLICT (id) DO NOTHING",
            # an upsert: a user evaluated ahead of the log (see workers) may not have its row yet
            "user_state": f"INSERT INTO {t['entities']} VALUES (?, ?, 'user', ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET agency_ref = excluded.agency_ref, "
            "version = excluded.version, position = excluded.position",
            "keys": f"SELECT id, ref, agency_ref, coc FROM {t['entities']} WHERE id IN ({{}})",
            # an entity's events as stored, to find the one a correction corrects
            "lines": f"SELECT a.version, log.topic, log.state FROM {t['audit']} a "
            f"{db.log_join('a')} WHERE a.entity_id = ? ORDER BY a.version",
            "corrects": f"UPDATE {t['audit']} SET corrects_version = ? WHERE position = ?",
            "correction": f"INSERT INTO {t['corrections']} VALUES (?, ?, ?)",
            "next_corrections": f"SELECT entity_id, corrected_event, position FROM "
            f"{t['corrections']} ORDER BY position LIMIT ?",
            "corrected": f"DELETE FROM {t['corrections']} WHERE position = ?",
            "derive": f"INSERT INTO {t['derive']} VALUES (?, ?, ?, ?) "
            "ON CONFLICT (entity_id) DO NOTHING",
            "next_derive": f"SELECT entity_id, coc, ref, kind FROM {t['derive']} "
            "ORDER BY entity_id LIMIT ?",
            "all_derive": f"SELECT entity_id, coc, ref, kind FROM {t['derive']} ORDER BY entity_id",
            "pending": f"INSERT INTO {t['pending']} VALUES (?, ?, ?) "
            "ON CONFLICT (entity_id) DO NOTHING",
            # every user of a CoC, or of one agency: two statements, so that each can use
            # its index (an OR of both scanned a CoC's users for every agency derived)
            "pending_of_coc": f"INSERT INTO {t['pending']} SELECT id, coc, ref FROM "
            f"{t['entities']} WHERE coc = ? AND kind = 'user' ON CONFLICT (entity_id) DO NOTHING",
            "pending_of_users": f"INSERT INTO {t['pending']} SELECT id, coc, ref FROM "
            f"{t['entities']} WHERE kind = 'user' ON CONFLICT (entity_id) DO NOTHING",
            "pending_of_agency": f"INSERT INTO {t['pending']} SELECT id, coc, ref FROM "
            f"{t['entities']} WHERE coc = ? AND agency_ref = ? AND kind = 'user' "
            "ON CONFLICT (entity_id) DO NOTHING",
            "members": f"SELECT id FROM {t['entities']} WHERE coc = ? AND agency_ref = ? "
            "AND kind = ?",
            "agency": f"INSERT INTO {t['agencies']} VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (coc, ref) DO UPDATE SET summary = excluded.summary, "
            "position = excluded.position",
            "region": f"INSERT INTO {t['regions']} VALUES (?, ?, ?, ?, ?, ?)",
            "calendar": f"INSERT INTO {t['calendar']} VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            "user": f"INSERT INTO {t['users']} VALUES ({user_values}) "
            "ON CONFLICT (coc, ref) DO UPDATE SET agency_ref = excluded.agency_ref, "
            "overall = excluded.overall, hmis_role = excluded.hmis_role, "
            "policy_version = excluded.policy_version, as_of = excluded.as_of, "
            "valid_until = excluded.valid_until, position = excluded.position, "
            "evaluation = excluded.evaluation"
            + (", answer = excluded.answer" if self.answers else ""),
            "next_pending": f"SELECT entity_id, coc, ref FROM {t['pending']} "
            "ORDER BY entity_id LIMIT ?",
            # one CoC at a time, through the (coc, valid_until) index: without a CoC the
            # query read every user's row, holding SQLite's writer lock meanwhile
            "next_coc": f"SELECT coc FROM {t['users']} WHERE coc > ? ORDER BY coc LIMIT 1",
            "stale": f"INSERT INTO {t['pending']} SELECT entity_id, coc, ref FROM {t['users']} "
            "WHERE coc = ? AND valid_until <= ? ON CONFLICT (entity_id) DO NOTHING",
            "evaluated_since": f"DELETE FROM {t['pending']} WHERE entity_id IN "
            f"(SELECT entity_id FROM {t['users']} WHERE position >= ?)",
            "pending_after": f"SELECT entity_id FROM {t['pending']} WHERE entity_id > ? "
            "ORDER BY entity_id LIMIT ?",
        }

    # --- events --------------------------------------------------------------------------

    def apply(
        self, notifications: Sequence[Notification], done: Sequence[Evaluated | Derived] = ()
    ) -> int:
        """Apply a batch (in log order) and record its last position, all in one transaction,
        with ``done``: what workers evaluated or derived meanwhile (see ``workers``; a commit
        of their own cost about as much as writing them). Returns the new position.

        Every event becomes a line of the audit trail naming its entity (the event itself is
        the log's row at its position, see ``db.log_join``). Events of
        organisations, agreements and intakes are applied to their aggregates (few, cached),
        but not in bulk: their histories would stay in memory, growing with the log; they are
        loaded from the store when derived. A user's events are never applied: the user is
        queued and built from its audit lines when it is evaluated (users are many and
        evaluated once however many events they had)."""
        if not notifications:
            for result in done:
                self.write(result)
            return self.position
        last = notifications[-1].id
        to_state = self.ledger.event_mapper.to_state
        # a line of the new shape needs no field of its event but its CoC, which is its
        # entity's (a key): the event is decoded only where something more is needed (decoding
        # every event was most of what applying it cost after writing its line)
        decodes = self._decodes
        try:
            with self.db.transaction() as cursor:
                self.entities.cursor = cursor
                decoded = [
                    (n, _entity_hex(n), found, to_state(n)[1] if decodes(found) else None)
                    for n in notifications
                    if (found := event_class(n.topic)) is not None
                ]
                keys = self._keys(cursor, decoded)
                audit: list[tuple[Any, ...]] = []
                corrections: list[tuple[str, str, int]] = []
                touched: dict[str, Touched] = {}  # by entity id (hex)
                for notification, entity, found, state in decoded:
                    key = keys[entity]
                    if found.of_user or self.bulk:
                        self.entities.absent.discard(notification.originator_id)
                    else:
                        self.entities.apply(found.cls.model_validate(state))
                    touched[entity] = Touched(
                        found,
                        key.coc,
                        notification.originator_version,
                        notification.id,
                        found.creates or (entity in touched and touched[entity].created),
                    )
                    line = (notification.id, entity, notification.originator_version, key.coc)
                    if not self.event_fields:
                        audit.append(rows.audit_line(*line, found.kind, key.ref, found.name))
                    else:
                        assert state is not None
                        old = rows.old_audit_line(*line, found.kind, key.ref, found.name, state)
                        if self.audit_copies:
                            old += (notification.state.decode(),)
                        audit.append(old)
                    if found.corrects:
                        assert state is not None
                        corrected = state["corrects"].replace("-", "")
                        corrections.append((entity, corrected, notification.id))
                self._write_entities(cursor, touched, keys)
                self.db.insert(cursor, self.tables["audit"], audit)
                # in bulk, linked once the index that finds the corrected line is made
                if self.bulk:
                    self.db.executemany(cursor, self.sql["correction"], corrections)
                else:
                    self._link(cursor, corrections)
                self._queue(cursor, touched, keys)
                for result in done:
                    self._write_done(cursor, result)
                self.db.record_position(cursor, self.generation, last)
        except BaseException:
            self.entities.reset()
            raise
        finally:
            self.entities.cursor = None
        self.entities.written()
        self.position = last
        return last

    def begin_bulk(self) -> None:
        """Apply without the audit trail's entity and feed indexes, and write users rows
        without the triggers that count them, until ``end_bulk`` (for a generation no reader
        uses yet): a correction is linked to the version it corrects then, and the users are
        counted.
        Entities are not kept meanwhile: those kept now would not see the events applied in
        bulk."""
        with self.db.transaction() as cursor:
            self.db.drop_audit_indexes(cursor, self.generation)
            self.db.drop_user_counting(cursor, self.generation)
        self.entities.reset()
        self.bulk = True

    def begin_ahead(self) -> None:
        """Until ``end_ahead``, the workers evaluate every user as it stands at the log's
        head while the log is applied up to it (see ``workers``): an applied event queues
        its user only when it creates the user, instead of queueing it again for each event
        (an upsert on a random key, rewriting most of the queue's pages at every commit).
        Every user there is already is queued now. So the queue still holds every user this
        pass may change, should it stop before the workers' rows are written: the next run
        evaluates them."""
        with self.db.transaction() as cursor:
            self.db.execute(cursor, self.sql["pending_of_users"])
        self.ahead = True

    def end_ahead(self) -> None:
        self.ahead = False

    def end_bulk(self) -> None:
        """Make the audit trail's entity and feed indexes, if they are not there, and link
        the corrections applied without them; and count the users and make the triggers
        that keep them counted, if they are not there; in one transaction (a no-op when all
        is done). On PostgreSQL the links' reads of one entity's lines are planned without
        parallel workers: the new index has no statistics yet, and the planner started
        workers for each read (7 to 9 ms each; 6 s for the 807 corrections of a 494,415-event
        log)."""
        self.bulk = False
        indexed = self.db.has_audit_indexes(self.generation)
        counted = self.db.has_user_counting(self.generation)
        if indexed and counted:
            return
        with self.db.transaction() as cursor:
            if not counted:
                self.db.create_user_counting(cursor, self.generation)
            if not indexed:
                self.db.create_audit_indexes(cursor, self.generation)
                self.db.plan_serially(cursor)
                while queued := self.db.query(cursor, self.sql["next_corrections"], (CHUNK,)):
                    self._link(cursor, queued)
                    self.db.executemany(cursor, self.sql["corrected"], [(q[2],) for q in queued])

    def _decodes(self, found: EventClass) -> bool:
        """Whether applying an event of this class needs its stored fields: to make its
        entity's key (an event that creates it), to find what it corrects, to apply it to
        an aggregate kept in memory, or for a line of an older shape."""
        return (
            found.creates or found.corrects or not (found.of_user or self.bulk) or self.event_fields
        )

    def _link(self, cursor: Any, corrections: Sequence[tuple[str, str, int]]) -> None:
        """Fill in the version each correction (entity id, corrected event id, its position)
        corrects: that of its entity's line whose event has the corrected event's id (none
        when there is no such event). Corrections are few: each reads its entity's events."""
        mapper = self.ledger.event_mapper
        linked: list[tuple[int | None, int]] = []
        for entity, corrected, position in corrections:
            found = None
            for version, topic, state in self.db.query(cursor, self.sql["lines"], (entity,)):
                fields = line_event(mapper, entity, version, topic, state)
                if fields["event_id"].replace("-", "") == corrected:
                    found = version
                    break
            linked.append((found, position))
        self.db.executemany(cursor, self.sql["corrects"], linked)

    def _keys(
        self,
        cursor: Any,
        decoded: list[tuple[Notification, str, EventClass, dict[str, Any] | None]],
    ) -> dict[str, Key]:
        """The key of each entity in the batch, by entity id (hex). Keys never change: kept
        across batches, up to a bound; the rest are read from the entities table."""
        keys = self.keys
        if len(keys) > REFS_KEPT:
            keys.clear()
        missing: set[str] = set()
        for _, entity, found, state in decoded:
            if found.creates:
                assert state is not None
                keys[entity] = Key(
                    found.ref_when_created(state, entity),
                    found.agency_when_created(state),
                    state["coc"],
                )
            elif entity not in keys:
                missing.add(entity)
        ordered = sorted(missing)
        for start in range(0, len(ordered), CHUNK):
            marks, chunk = in_list(ordered[start : start + CHUNK])
            found_keys = self.db.query(cursor, self.sql["keys"].format(marks), chunk)
            for hex_id, ref, agency, coc in found_keys:
                keys[hex_id] = Key(ref, agency, coc)
        return keys

    def _write_entities(
        self, cursor: Any, touched: dict[str, Touched], keys: dict[str, Key]
    ) -> None:
        """A user's row is written when it is created; its agency, version and position when
        it is evaluated (see ``evaluate_users``)."""
        users, others = [], []
        for entity, t in touched.items():
            ref, agency, _ = keys[entity]
            if t.event.of_user:
                if t.created:
                    users.append((entity, t.coc, ref, t.version, t.position))
            else:
                others.append((entity, t.coc, t.event.kind, ref, agency, t.version, t.position))
        self.db.insert_many(cursor, self.sql["user_entity"], users)
        self.db.insert_many(cursor, self.sql["entity"], others)

    def _queue(self, cursor: Any, touched: dict[str, Touched], keys: dict[str, Key]) -> None:
        """Queue what the batch's changes make stale: users to evaluate; agencies and
        intakes whose rows to derive again; every user of a CoC whose policy may change."""
        users: list[tuple[str, str, str]] = []
        derive: dict[str, tuple[str, str, str, str]] = {}
        for entity, t in touched.items():
            ref, agency_ref, _ = keys[entity]
            kind = t.event.aggregate
            if t.event.of_user:
                if t.created or not self.ahead:
                    users.append((entity, t.coc, ref))
            elif kind is Agency or kind is Agreement:
                assert agency_ref is not None
                agency_id = entity_id(Agency.kind, t.coc, agency_ref).hex
                derive[agency_id] = (agency_id, t.coc, agency_ref, Agency.kind)
            elif kind is DataPartnerIntake:
                derive[entity] = (entity, t.coc, ref, DataPartnerIntake.kind)
            elif kind is CoC:
                self.db.execute(cursor, self.sql["pending_of_coc"], (t.coc,))
        self.db.insert_many(cursor, self.sql["pending"], users)
        self.db.insert_many(cursor, self.sql["derive"], list(derive.values()))

    def derive(self, cursor: Any, queued: list[tuple[str, str, str, str]]) -> Derived:
        """Derive queued agencies and intakes (rows of the derive queue); reads only (a
        worker process may do it, see ``workers``). Entities read at a log position are
        read together first (see ``EntitiesAtPosition.prefetch``): read one by one, an
        agency and each of its agreements took two round trips each, and deriving the
        1,220 agencies of scripts/bench_rebuild's log took a worker 4.3 s, 2.4 s of its CPU."""
        derived = Derived([q[0] for q in queued], [], [], [], [], [], [])
        agreements = {
            (coc, ref): self._agreement_ids(cursor, coc, ref)
            for _, coc, ref, kind in queued
            if kind == Agency.kind
        }
        if self.entities.reads_together:
            self.entities.prefetch(self._derived_ids(queued, agreements))
        for hex_id, coc, ref, kind in queued:
            if kind == Agency.kind:
                self._agency(derived, coc, ref, agreements[coc, ref])
                derived.users_of.append((coc, ref))
            else:
                intake = self.entities.get(DataPartnerIntake, UUID(hex_id))
                if intake is not None:
                    self._intake_calendar(derived, intake)
        return derived

    @staticmethod
    def _derived_ids(
        queued: list[tuple[str, str, str, str]], agreements: dict[tuple[str, str], list[UUID]]
    ) -> list[UUID]:
        """The entities deriving ``queued`` reads: each agency and its agreements, each
        intake and its CoC."""
        ids: list[UUID] = []
        for hex_id, coc, ref, kind in queued:
            if kind == Agency.kind:
                ids += [entity_id(Agency.kind, coc, ref), *agreements[coc, ref]]
            else:
                ids += [UUID(hex_id), entity_id(CoC.kind, coc)]
        return ids

    def write_derived(self, cursor: Any, derived: Derived) -> None:
        """Write derived rows, queue the agencies' users and take what was derived off the
        queue (in the caller's transaction)."""
        self.db.insert_many(cursor, self.sql["agency"], derived.agencies)
        self.db.delete(
            cursor, self.tables["regions"], ("coc", "agency_ref"), derived.regions_cleared
        )
        self.db.insert_many(cursor, self.sql["region"], derived.regions)
        self.db.delete(cursor, self.tables["calendar"], CALENDAR_SUBJECT, derived.calendar_cleared)
        self.db.insert_many(cursor, self.sql["calendar"], derived.calendar)
        self.db.executemany(cursor, self.sql["pending_of_agency"], derived.users_of)
        self.db.delete(
            cursor, self.tables["derive"], ("entity_id",), [(i,) for i in derived.queued]
        )

    def queued_to_derive(self) -> list[tuple[str, str, str, str]]:
        """Every agency and intake queued to derive (entity id, CoC, ref, kind)."""
        return [tuple(row) for row in self.db.fetchall(self.sql["all_derive"])]

    def _agency(
        self, derived: Derived, coc: str, agency_ref: str, agreement_ids: list[UUID]
    ) -> None:
        agency = self.entities.get(Agency, entity_id(Agency.kind, coc, agency_ref))
        if agency is None:
            return
        found = [self.entities.get(Agreement, i) for i in agreement_ids]
        agreements = sorted((a for a in found if a is not None), key=lambda a: a.drafted.ref)
        now = self.clock.now()
        summary = rows.agency_summary(agency, agreements, now)
        derived.agencies.append(
            (coc, agency_ref, agency.id.hex, rows.dumps(summary), self.position)
        )
        derived.regions_cleared.append((coc, agency_ref))
        derived.regions.extend(rows.region_rows(agency, agreements, now))

    def _agreement_ids(self, cursor: Any, coc: str, agency_ref: str) -> list[UUID]:
        """The agency's agreements, as the generation's entities table has them."""
        found = self.db.query(cursor, self.sql["members"], (coc, agency_ref, "agreement"))
        return [UUID(hex_id) for (hex_id,) in found]

    def _intake_calendar(self, derived: Derived, intake: DataPartnerIntake) -> None:
        ref = ref_of(intake)
        derived.calendar_cleared.append((intake.coc, "intake", ref))
        tenant = self.entities.get(CoC, entity_id(CoC.kind, intake.coc))
        now = self.clock.now()
        if tenant is None or tenant.policy_in_force(now.date()) is None:
            return
        compiled, _, _ = self.compliance.policy_at(tenant, now.date())
        status = evaluate_intake(intake, compiled.pack, now)
        derived.calendar.extend(
            rows.calendar_rows(intake.coc, "intake", ref, agency_of(intake), (status,))
        )

    # --- users ---------------------------------------------------------------------------

    def pending(self) -> int:
        """Users to evaluate and agencies or intakes to derive again."""
        return self.db.queued(self.generation)

    def mark_stale(self) -> None:
        """Queue users whose status changes by itself by now (a certificate expiring)."""
        now, coc = rows.iso(self.clock.now()), ""
        with self.db.transaction() as cursor:
            while found := self.db.query(cursor, self.sql["next_coc"], (coc,)):
                coc = found[0][0]
                self.db.execute(cursor, self.sql["stale"], (coc, now))

    def evaluate_pending(self, chunk: int = CHUNK) -> int:
        """Derive up to ``chunk`` queued agencies or intakes or, when none is left (deriving
        an agency queues its users), evaluate up to ``chunk`` queued users. Returns how many
        were done. See ``_work``."""
        return self._work(lambda c: self._derive_queued(c, chunk) or self._evaluate_users(c, chunk))

    def drop_evaluated_since(self, position: int) -> None:
        """Take off the queue the users whose rows were evaluated at ``position`` or later,
        with the generation at ``position`` (no later event queued them: see ``workers``)."""
        with self.db.transaction() as cursor:
            self.db.execute(cursor, self.sql["evaluated_since"], (position,))

    def derive_pending(self, chunk: int = CHUNK) -> int:
        """Derive up to ``chunk`` queued agencies or intakes; returns how many."""
        return self._work(lambda c: self._derive_queued(c, chunk))

    def write(self, done: Evaluated | Derived) -> None:
        """Write what a worker evaluated or derived, in a transaction of its own."""
        with self.db.transaction() as cursor:
            self._write_done(cursor, done)

    def _write_done(self, cursor: Any, done: Evaluated | Derived) -> None:
        if isinstance(done, Derived):
            self.write_derived(cursor, done)
        else:
            self.write_evaluated(cursor, done)

    def _work(self, step: Callable[[Any], Evaluated | Derived | None]) -> int:
        """Do queued work in a read-only transaction, then write what it made in a short
        transaction of its own (taking it off the queue). Evaluating takes long (up to a
        chunk of users), and on SQLite a write transaction held meanwhile kept the service's
        commands waiting for all of it (the pool lets one writer in at a time): under
        scripts/bench_api's write mix, evaluations took about 15% of the wall time, 7 ms
        each (median) and up to 25 ms. In this process only this projector applies the log
        to its generation and queues work; if another process applied some of it meanwhile
        (two followers of one generation), what was read may be stale, and nothing is
        written: the work stays queued."""
        try:
            with self.db.transaction(commit=False) as cursor:
                self.entities.cursor = cursor
                done = step(cursor)
        except BaseException:
            self.entities.reset()
            raise
        finally:
            self.entities.cursor = None
        if done is None:
            return 0
        with self.db.transaction() as cursor:
            if self.db.position_in(cursor, self.generation) != self.position:
                return 0
            self._write_done(cursor, done)
        return len(done.queued)

    def _derive_queued(self, cursor: Any, chunk: int) -> Derived | None:
        queued = self.db.query(cursor, self.sql["next_derive"], (chunk,))
        return self.derive(cursor, queued) if queued else None

    def _evaluate_users(self, cursor: Any, chunk: int) -> Evaluated | None:
        queued = self.db.query(cursor, self.sql["next_pending"], (chunk,))
        return self.evaluate_users(cursor, [q[0] for q in queued]) if queued else None

    def next_users(self, after: str, chunk: int = CHUNK) -> list[str]:
        """Queued users after entity id ``after`` (to hand out chunks of work)."""
        found = self.db.fetchall(self.sql["pending_after"], (after, chunk))
        return [hex_id for (hex_id,) in found]

    def evaluate_users(self, cursor: Any, hex_ids: list[str]) -> Evaluated:
        """Evaluate queued users; reads only (a worker process may do it, see ``workers``)."""
        found = self.entities.users(cursor, hex_ids)
        self.entities.touched.update((u.id, u) for u, _ in found)  # what the evaluation reads
        if self.entities.reads_together:
            self.entities.prefetch(self._organisations_of(u for u, _ in found))
        try:
            calendar: list[tuple[Any, ...]] = []
            users = [self._user_row(user, calendar) for user, _ in found]
        finally:
            self.entities.touched.clear()
        return Evaluated(
            hex_ids,
            users,
            calendar,
            [(u.coc, "user", u.ref) for u, _ in found],
            [(u.id.hex, u.coc, u.ref, u.agency_ref, u.version, p) for u, p in found],
        )

    def _organisations_of(self, users: Iterable[EndUser]) -> list[UUID]:
        """The agencies and agreements the users' evaluations read (``ComplianceService``)."""
        ids: list[UUID] = []
        for coc, agency_ref in {(u.coc, u.agency_ref) for u in users}:
            tenant = self.entities.get(CoC, entity_id(CoC.kind, coc))
            if tenant is not None and agency_ref is not None:
                ids += self.compliance.organisation_ids(tenant, agency_ref)
        return ids

    def write_evaluated(self, cursor: Any, evaluated: Evaluated) -> None:
        """Write evaluated users' rows and take them off the queue (in the caller's
        transaction)."""
        self.db.delete(cursor, self.tables["calendar"], CALENDAR_SUBJECT, evaluated.cleared)
        self.db.insert_many(cursor, self.sql["calendar"], evaluated.calendar)
        users = evaluated.users if self.answers else [row[:-1] for row in evaluated.users]
        self.db.executemany(cursor, self.sql["user"], users)
        self.db.insert_many(cursor, self.sql["user_state"], evaluated.states)
        self.db.delete(
            cursor, self.tables["pending"], ("entity_id",), [(i,) for i in evaluated.queued]
        )

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
