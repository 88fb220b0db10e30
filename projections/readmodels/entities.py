"""The entities a read-model generation has seen, as of its own log position: a bounded
cache of aggregates, loaded from the store at the version the generation recorded."""

from __future__ import annotations

from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import LRUCache

from ledger.application import Ledger
from ledger.domain.agreements import Agreement
from ledger.domain.base import LedgerAggregate, LedgerEvent
from ledger.domain.end_users import EndUser
from ledger.domain.obligations import DataPartnerIntake
from ledger.domain.organisations import Agency, CoC
from projections.readmodels.db import ReadModelDb

A = TypeVar("A", bound=LedgerAggregate)


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


class Entities:
    """Aggregates at the generation's position. ``touched`` holds those changed by the batch
    in progress (never evicted before the batch is written); the LRU holds the rest."""

    def __init__(self, ledger: Ledger, db: ReadModelDb, generation: int, size: int) -> None:
        self.ledger = ledger
        self.db = db
        self.lru: LRUCache[UUID, LedgerAggregate] = LRUCache(maxsize=max(size, 1))
        self.touched: dict[UUID, LedgerAggregate] = {}
        # natural keys never change; kept for the batch in progress
        self.refs: dict[UUID, str] = {}
        self.cursor: Any = None
        self._version_sql = (
            f"SELECT version FROM {db.table(db.prefix(generation) + 'entities')} WHERE id = ?"
        )

    def reset(self) -> None:
        """Forget everything (after a failed batch: the cache may be ahead of the tables)."""
        self.lru.clear()
        self.touched.clear()
        self.refs.clear()

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
        version = self._recorded_version(aggregate_id)
        if version is None:
            return None
        aggregate = self._load(aggregate_id, version)
        self.lru.put(aggregate_id, aggregate)
        return aggregate

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
        return mutated

    def written(self) -> None:
        """The batch is committed: its entities join the LRU."""
        for aggregate_id, aggregate in self.touched.items():
            self.lru.put(aggregate_id, aggregate)
        self.touched.clear()
        self.refs.clear()

    def _recorded_version(self, aggregate_id: UUID) -> int | None:
        if self.cursor is not None:
            rows = self.db.query(self.cursor, self._version_sql, (aggregate_id.hex,))
        else:
            rows = self.db.fetchall(self._version_sql, (aggregate_id.hex,))
        return rows[0][0] if rows else None

    def _load(self, aggregate_id: UUID, version: int) -> LedgerAggregate:
        loaded: LedgerAggregate = self.ledger.repository.get(aggregate_id, version=version)
        return loaded
