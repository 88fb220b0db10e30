"""The entities a read-model generation has seen, as of its own log position: a bounded
cache of aggregates, loaded from the store at the version the generation recorded."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import LRUCache
from eventsourcing.persistence import StoredEvent

from ledger.application import Ledger, mutate_all
from ledger.domain.agreements import Agreement
from ledger.domain.base import LedgerAggregate, LedgerEvent
from ledger.domain.end_users import EndUser
from ledger.domain.obligations import DataPartnerIntake
from ledger.domain.organisations import Agency, CoC
from ledger.positions import EventAt
from ledger.sql_lists import in_list
from projections.readmodels.db import ReadModelDb
from projections.readmodels.events import topic_named

A = TypeVar("A", bound=LedgerAggregate)
# events held by the entities kept in memory (about 1.5 KiB each): an agency's history grows
# with the log (staff joining and leaving), so a bound on how many entities are kept does not
# bound memory. A rebuild's worker processes keep more: they evaluate users of every agency in
# turn, and an agency let go is read again from the store for its next user
EVENTS_KEPT = 20_000
EVENTS_KEPT_BY_WORKERS = 100_000


def ref_of(aggregate: LedgerAggregate) -> str:
    """The natural key of an entity within its CoC."""
    created = aggregate.created
    if isinstance(created, CoC.Registered):
        return created.code
    return str(getattr(created, "ref", aggregate.id.hex))


def agency_of(aggregate: LedgerAggregate) -> str | None:
    """The agency an entity belongs to now (None for a CoC or a user between agencies)."""
    if isinstance(aggregate, EndUser):
        return aggregate.agency_ref
    if isinstance(aggregate, Agency):
        return aggregate.ref
    if isinstance(aggregate, Agreement):
        return aggregate.drafted.agency_ref
    if isinstance(aggregate, DataPartnerIntake):
        return aggregate.received.partner_agency_ref
    return None


class Cache(LRUCache[UUID, LedgerAggregate]):
    """eventsourcing's LRU cache of aggregates, bounded also by the events they hold: the
    least recently used are let go until at most ``max_events`` are held (or one entity)."""

    def __init__(self, maxsize: int, max_events: int = EVENTS_KEPT) -> None:
        super().__init__(maxsize)
        self.max_events = max_events
        self.events = 0
        self.sizes: dict[UUID, int] = {}

    def put(self, key: UUID, value: LedgerAggregate | None) -> Any:
        self.events -= self.sizes.pop(key, 0)
        evicted = super().put(key, value)
        if evicted is not None and evicted[0] is not None:
            self.events -= self.sizes.pop(evicted[0])
        if value is not None:
            self.sizes[key] = value.version
            self.events += value.version
        while self.events > self.max_events and len(self.cache) > 1:
            oldest = self.root[self.NEXT][self.KEY]
            self.get(oldest, evict=True)
            self.events -= self.sizes.pop(oldest)
        return evicted


class Entities:
    """Aggregates at the generation's position. ``touched`` holds those changed by the batch
    in progress (never evicted before the batch is written); the LRU holds the rest. Users
    are not kept here (see ``users``)."""

    # whether ``prefetch`` reads entities together (else each is read when asked for)
    reads_together = False

    def __init__(
        self,
        ledger: Ledger,
        db: ReadModelDb,
        generation: int,
        size: int,
        users_kept: int = 0,
        events_kept: int = EVENTS_KEPT,
    ) -> None:
        """``size`` entities are kept, holding at most ``events_kept`` events (see ``Cache``);
        ``users_kept``: how many built users to keep between evaluations (a follower
        evaluates the same users again and again; a rebuild evaluates each once: 0)."""
        self.ledger = ledger
        self.db = db
        self.size = max(size, 1)
        self.events_kept = events_kept
        self.users_kept = users_kept
        self.touched: dict[UUID, LedgerAggregate] = {}
        # entities looked for and not there (yet): an agency's missing MOU, asked per user
        self.absent: set[UUID] = set()
        self.lru: Cache
        self.kept: LRUCache[str, tuple[EndUser, int]]
        self.reset()
        self.cursor: Any = None
        tables = {name: db.table(db.prefix(generation) + name) for name in ("entities", "audit")}
        self._version_sql = f"SELECT version FROM {tables['entities']} WHERE id = ?"
        lines = (  # each with its event as stored, from the log
            "SELECT a.entity_id, a.version, a.type, log.state, a.position "
            f"FROM {tables['audit']} a {db.log_join('a')}"
        )
        self._events_sql = f"{lines} WHERE a.entity_id IN ({{}}) ORDER BY a.entity_id, a.version"
        # the newer events of users kept at known versions: (entity id, version) pairs
        self._newer_sql = (
            f"{lines} JOIN (VALUES {{}}) AS k ON a.entity_id = k.column1 "
            "AND a.version > k.column2 ORDER BY a.entity_id, a.version"
        )

    def reset(self) -> None:
        """Forget everything (after a failed batch: the cache may be ahead of the tables)."""
        self.lru = Cache(self.size, self.events_kept)
        self.kept = LRUCache(maxsize=max(self.users_kept, 1))
        self.touched.clear()
        self.absent.clear()

    def get(self, cls: type[A], aggregate_id: UUID) -> A | None:
        found = self._get(aggregate_id)
        return found if isinstance(found, cls) else None

    def _get(self, aggregate_id: UUID) -> LedgerAggregate | None:
        found = self.touched.get(aggregate_id)
        if found is not None:
            return found
        try:
            return self.lru.get(aggregate_id)
        except KeyError:
            pass
        if aggregate_id in self.absent:
            return None
        version = self._recorded_version(aggregate_id)
        if version is None:
            self._note_absent(aggregate_id)
            return None
        aggregate = self._load(aggregate_id, version)
        self.lru.put(aggregate_id, aggregate)
        return aggregate

    def _note_absent(self, aggregate_id: UUID) -> None:
        if len(self.absent) >= self.size:
            self.absent.clear()
        self.absent.add(aggregate_id)

    def _held(self, aggregate_id: UUID) -> bool:
        """Whether ``get`` answers without reading the store."""
        return (
            aggregate_id in self.touched
            or aggregate_id in self.lru.cache
            or aggregate_id in self.absent
        )

    def prefetch(self, aggregate_ids: Iterable[UUID]) -> None:
        """Entities about to be read (``get``), for a subclass that can read them together."""

    def apply(self, event: LedgerEvent) -> LedgerAggregate:
        """Apply the next event of an entity to its state at the previous version."""
        aggregate_id = event.originator_id
        previous = event.originator_version - 1
        aggregate: Any = None
        if previous:
            aggregate = self._get(aggregate_id)
            if aggregate is None or aggregate.version != previous:
                aggregate = self._load(aggregate_id, previous)
        mutated: LedgerAggregate = event.mutate(aggregate)  # type: ignore[attr-defined]
        self.touched[aggregate_id] = mutated
        self.absent.discard(aggregate_id)
        return mutated

    def written(self) -> None:
        """The batch is committed: its entities join the LRU."""
        for aggregate_id, aggregate in self.touched.items():
            self.lru.put(aggregate_id, aggregate)
        self.touched.clear()

    def users(self, cursor: Any, hex_ids: Sequence[str]) -> list[tuple[EndUser, int]]:
        """Users at the generation's version, with the position of their last event, built
        from the events in its audit table: one query for those built afresh, and one for the
        newer events of those kept from an earlier evaluation."""
        if not hex_ids:
            return []
        built: dict[str, tuple[Any, int]] = {}
        if self.users_kept:
            for hex_id in hex_ids:
                try:
                    built[hex_id] = self.kept.get(hex_id)
                except KeyError:
                    continue
        events: list[EventAt] = []
        fresh = [hex_id for hex_id in hex_ids if hex_id not in built]
        if fresh:
            events += self._user_events(cursor, fresh)
        if built:
            statement = self._newer_sql.format(", ".join(["(?, ?)"] * len(built)))
            kept = [
                value for hex_id, (user, _) in built.items() for value in (hex_id, user.version)
            ]
            events += self._audit_events(self.db.query(cursor, statement, kept))
        to_domain_event = self.ledger.mapper.to_domain_event
        for originator, version, topic, state, position in events:
            hex_id = originator.hex
            if hex_id not in built:
                built[hex_id] = (None, position)
            stored = StoredEvent(originator, version, topic, state)
            # as mutate_all, one event at a time
            user = to_domain_event(stored).mutate(built[hex_id][0])  # type: ignore[attr-defined]
            built[hex_id] = (user, position)
        users = [(u, p) for u, p in built.values() if isinstance(u, EndUser)]
        if self.users_kept:
            for user, position in users:
                self.kept.put(user.id.hex, (user, position))
        return users

    def _user_events(self, cursor: Any, hex_ids: list[str]) -> list[EventAt]:
        """The events of these users, from the generation's audit lines."""
        marks, padded = in_list(hex_ids)
        return self._audit_events(self.db.query(cursor, self._events_sql.format(marks), padded))

    @staticmethod
    def _audit_events(rows: list[tuple[Any, ...]]) -> list[EventAt]:
        """Audit lines as the stored events they show (rows come entity by entity)."""
        events: list[EventAt] = []
        originator, originator_hex = UUID(int=0), ""
        for hex_id, version, name, stored, position in rows:
            if hex_id != originator_hex:
                originator, originator_hex = UUID(hex_id), hex_id
            events.append((originator, version, topic_named(name), stored, position))
        return events

    def _recorded_version(self, aggregate_id: UUID) -> int | None:
        if self.cursor is not None:
            rows = self.db.query(self.cursor, self._version_sql, (aggregate_id.hex,))
        else:
            rows = self.db.fetchall(self._version_sql, (aggregate_id.hex,))
        return rows[0][0] if rows else None

    def _load(self, aggregate_id: UUID, version: int) -> LedgerAggregate:
        loaded: LedgerAggregate = self.ledger.repository.get(
            aggregate_id, version=version, projector_func=mutate_all
        )
        return loaded


class EntitiesAtPosition(Entities):
    """Entities as they stood at log position ``position``, read from the store rather than
    from the generation's tables: what a generation will hold once it has applied the log up
    to there (a rebuild evaluates users so while it applies the log, see ``workers``)."""

    reads_together = True

    def __init__(
        self,
        ledger: Ledger,
        db: ReadModelDb,
        generation: int,
        position: int,
        events_kept: int = EVENTS_KEPT,
    ) -> None:
        super().__init__(ledger, db, generation, size=20_000, events_kept=events_kept)
        self.position = position

    def _user_events(self, cursor: Any, hex_ids: list[str]) -> list[EventAt]:
        return self.ledger.positions.events_at([UUID(h) for h in hex_ids], self.position)

    def _recorded_version(self, aggregate_id: UUID) -> int | None:
        return self.ledger.positions.version_at(aggregate_id, self.position)

    def prefetch(self, aggregate_ids: Iterable[UUID]) -> None:
        """Read the entities not held yet in one query of their events up to the position,
        instead of two reads each when asked for (their version there, then their events):
        the agency and agreements of a chunk's users were a quarter of a rebuild worker's
        time on PostgreSQL, each read a round trip in a transaction of its own."""
        wanted = [i for i in dict.fromkeys(aggregate_ids) if not self._held(i)]
        if not wanted:
            return
        to_domain_event = self.ledger.mapper.to_domain_event
        built: dict[UUID, Any] = {}
        for originator, version, topic, state, _ in self.ledger.positions.events_at(
            wanted, self.position
        ):
            event = to_domain_event(StoredEvent(originator, version, topic, state))
            built[originator] = event.mutate(built.get(originator))  # type: ignore[attr-defined]
        for aggregate_id in wanted:
            if aggregate_id in built:
                self.lru.put(aggregate_id, built[aggregate_id])
            else:
                self._note_absent(aggregate_id)
