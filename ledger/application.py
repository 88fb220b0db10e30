"""The eventsourcing Application of CoC Ledger: one event log on SQLite or PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
)
from eventsourcing.persistence import (
    ApplicationRecorder,
    IntegrityError,
    Mapper,
    OperationalError,
    PersistenceError,
    Recording,
)
from eventsourcing.utils import Environment, EnvType

from ledger.clock import Clock, SystemClock
from ledger.domain.base import LedgerAggregate, LedgerEvent
from ledger.domain.organisations import CoC
from ledger.domain.vocabulary import Process
from ledger.errors import NotFound
from ledger.ids import entity_id
from ledger.mapper import OrjsonTranscoder, PydanticMapper
from ledger.policy.store import BUNDLED_PACKS, PackStore
from ledger.positions import PositionIndex, position_index
from ledger.settings import Settings
from ledger.table_lock import creating_tables

A = TypeVar("A", bound=LedgerAggregate)
SaveListener = Callable[[Sequence[Recording[UUID]]], None]


def mutate_all(aggregate: Any, events: Iterable[Any]) -> Any:
    """eventsourcing's ``project_aggregate`` (the repository's projector function) without
    its check of each event against a runtime-checkable protocol: that isinstance cost more
    than the mutation itself (about 16 us an event, profiled), and the events come from this
    application's own mapper."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


def _recorded_time(event: object) -> datetime:
    recorded: datetime = getattr(event, "timestamp")  # noqa: B009
    return recorded


class StoreUnavailable(PersistenceError):
    """The store could not be reached or locked in time."""


@dataclass(frozen=True)
class HistoryEntry:
    """One event of an entity with its position in the log."""

    position: int | None
    event: LedgerEvent


class Ledger(Application[UUID]):
    """The event store application. Build one per process from :class:`Settings`."""

    name = "CocLedger"

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        super().__init__(env=settings.eventsourcing_env())
        self.positions: PositionIndex = position_index(self.recorder)
        self._tenant_processes: dict[str, Process] = {}
        self.packs = PackStore(settings.policy_dir or BUNDLED_PACKS)
        # SQLite takes one writer at a time anyway; running a process's commands one at a
        # time keeps its non-refreshing entity cache exact (no read can put back an old copy
        # while another thread writes). PostgreSQL caches re-read every entity they return.
        self.exclusive: AbstractContextManager[object] = (
            threading.Lock() if settings.backend == "sqlite" else nullcontext()
        )
        self._save_listeners: list[SaveListener] = []
        self._shared = threading.local()

    @contextmanager
    def sharing(self, aggregates: dict[UUID, LedgerAggregate]) -> Iterator[None]:
        """While it lasts, :meth:`load` in this thread returns these (unsaved) aggregates
        themselves: commands run together see what the earlier ones decided."""
        self._shared.aggregates = aggregates
        try:
            yield
        finally:
            self._shared.aggregates = None

    def construct_recorder(self) -> ApplicationRecorder:
        """eventsourcing's recorder, its tables made (if settings say so) by one process at
        a time (``ledger.table_lock``)."""
        if not self.settings.create_tables:
            return super().construct_recorder()
        with creating_tables(self.factory.datastore):  # type: ignore[attr-defined]
            return super().construct_recorder()

    def creating_tables(self) -> AbstractContextManager[None]:
        """While it lasts, no other process creates tables in this store
        (``ledger.table_lock``): wrap every ``CREATE`` of our own tables in it."""
        return creating_tables(self.recorder.datastore)  # type: ignore[attr-defined]

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        """Only the given settings configure the store: the process environment is not read."""
        return Environment(name, dict(env or {}))

    def construct_mapper(self) -> Mapper[UUID]:
        return PydanticMapper(transcoder=OrjsonTranscoder())

    @property
    def event_mapper(self) -> PydanticMapper:
        """The mapper, with its own methods (``to_state``) visible to type checkers."""
        assert isinstance(self.mapper, PydanticMapper)
        return self.mapper

    # --- reading -------------------------------------------------------------------------

    def load(self, cls: type[A], aggregate_id: UUID) -> A | None:
        shared = getattr(self._shared, "aggregates", None)
        if shared is not None and aggregate_id in shared:
            found = shared[aggregate_id]
            return found if isinstance(found, cls) else None
        try:
            aggregate: object = self.repository.get(aggregate_id, projector_func=mutate_all)
        except AggregateNotFoundError:
            return None
        if not isinstance(aggregate, cls):
            return None
        return aggregate

    def load_stored(self, cls: type[A], aggregate_id: UUID) -> A | None:
        """Like :meth:`load`, but from the store, bypassing the entity cache: for records
        another process writes while this one runs (API tokens issued or revoked by an
        operator beside the service)."""
        aggregate: object = mutate_all(None, self.events.get(aggregate_id))
        return aggregate if isinstance(aggregate, cls) else None

    def tenant_process(self, coc: str) -> Process | None:
        """The process a registered CoC follows (None if not registered). A CoC is never
        removed and its process is a fixed field, so known answers are kept."""
        process = self._tenant_processes.get(coc)
        if process is None:
            tenant = self.load(CoC, entity_id(CoC.kind, coc))
            if tenant is None:
                return None
            process = self._tenant_processes[coc] = tenant.process
        return process

    def history(self, aggregate_id: UUID) -> list[HistoryEntry]:
        """Every event of one entity, in order, with its log position."""
        events = [e for e in self.events.get(aggregate_id) if isinstance(e, LedgerEvent)]
        if not events:
            raise NotFound(f"no entity with id {aggregate_id}")
        positions = self.positions.of_entity(aggregate_id)
        return [HistoryEntry(positions.get(e.originator_version), e) for e in events]

    def head(self) -> int:
        """The position of the newest event in the log (0 when empty)."""
        return self.recorder.max_notification_id() or 0

    # --- writing -------------------------------------------------------------------------

    def save_all(
        self,
        aggregates: Iterable[LedgerAggregate],
        *,
        by_recorded_time: bool = False,
        order: Callable[[LedgerEvent], int] | None = None,
    ) -> Sequence[Recording[UUID]]:
        """Save pending events of several aggregates atomically.

        The events are written aggregate by aggregate, unless ``by_recorded_time``: then the
        events of all aggregates are interleaved by their recorded time (a stable sort, so each
        entity's events keep their order), as a log written by many writers holds them; or,
        with ``order``, by that key of each event (also stable).

        Raises IntegrityError when another writer got there first (the caller retries),
        and StoreUnavailable when the store cannot be reached or locked in time.
        """
        # What Application.save() does, without its runtime Protocol checks of every object
        # (slow on Python 3.11) and the snapshot/notify hooks this application does not use;
        # eventsourcing's own EventSourcedProjection records a ProcessingEvent the same way.
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        for aggregate in aggregates:
            processing_event.events.extend(aggregate.collect_events())
            processing_event.aggregates[aggregate.id] = aggregate
        if by_recorded_time:
            processing_event.events.sort(key=_recorded_time)
        elif order is not None:
            processing_event.events.sort(key=order)  # type: ignore[arg-type]
        try:
            recordings = self._record(processing_event)
        except IntegrityError:
            raise
        except OperationalError as err:
            raise StoreUnavailable(str(err)) from err
        for listener in self._save_listeners:
            listener(recordings)
        return recordings

    def add_save_listener(self, listener: SaveListener) -> Callable[[], None]:
        """Call ``listener`` with the recordings of every committed save (in the saving
        thread; it must be quick and must not raise). Returns a function that removes it."""
        self._save_listeners.append(listener)
        return lambda: self._save_listeners.remove(listener)

    def forget(self, aggregate_ids: Iterable[UUID]) -> None:
        """Drop cached copies after a failed write so the next read comes from the store."""
        cache = self.repository.cache
        if cache is None:
            return
        for aggregate_id in aggregate_ids:
            try:
                cache.get(aggregate_id, evict=True)
            except KeyError:
                continue
