"""The simulation clock: scripts wake in recorded-time order; their events are saved in batches."""

from __future__ import annotations

import heapq
import random
import time
from collections.abc import Callable, Generator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from ledger.application import Ledger
from ledger.domain.base import EventMeta, LedgerAggregate, Source

# A script is a generator that yields the recorded time at which it wants to act next; the
# world resumes it at that time (never earlier than the time already reached).
Script = Generator[datetime, None, None]
Progress = Callable[[int, int], None]  # (events written, events expected)


class SeededMeta(EventMeta):
    """Event metadata that also fixes the event's id, so a seed gives byte-identical events."""

    event_id: UUID

    def fields(self) -> dict[str, Any]:
        # the field values themselves (pydantic keeps them in __dict__): cheaper than the
        # base class's dict(self), which counts at millions of events
        return self.__dict__


class Counters:
    """What a run wrote, by kind of realism, for the report."""

    def __init__(self) -> None:
        self.events = 0
        self.users = 0
        self.agencies = 0
        self.entities = 0
        self.duplicates = 0
        self.backdated = 0
        self.corrections = 0


class World:
    """Runs scripts in recorded-time order and writes their events through ``save_all``."""

    def __init__(
        self,
        ledger: Ledger,
        rng: random.Random,
        end: datetime,
        *,
        batch_events: int,
        expected: int,
        progress: Progress | None,
    ) -> None:
        self.ledger = ledger
        self.rng = rng
        self.end = end
        self.now = datetime(1970, 1, 1, tzinfo=UTC)
        self.count = Counters()
        self._heap: list[tuple[datetime, int, Script]] = []
        self._order = 0
        self._dirty: dict[UUID, LedgerAggregate] = {}
        self._unsaved = 0
        self._batch = batch_events
        self._expected = expected
        self._progress = progress
        self._step = 0
        self.started = time.perf_counter()

    # --- scheduling ----------------------------------------------------------------------

    def spawn(self, script: Script) -> None:
        """Start a script: it runs from the time it first yields."""
        try:
            first = next(script)
        except StopIteration:
            return
        self._push(first, script)

    def _push(self, at: datetime, script: Script) -> None:
        self._order += 1
        heapq.heappush(self._heap, (at, self._order, script))

    def run(self) -> None:
        heap = self._heap
        while heap:
            at, _, script = heapq.heappop(heap)
            if at > self.end:
                break  # every other script waits for a later time still
            self.now = max(self.now, at)
            self._step += 1
            try:
                wake = next(script)
            except StopIteration:
                wake = None
            if self._unsaved >= self._batch:
                self.flush()
            if wake is not None:
                self._push(max(wake, self.now), script)
        self.flush()

    # --- writing -------------------------------------------------------------------------

    def new_id(self) -> UUID:
        return UUID(int=self.rng.getrandbits(128), version=4)

    def meta(
        self, coc: str, effective_at: datetime, actor: str, source: Source = Source.API
    ) -> EventMeta:
        """Metadata of one event recorded now that took effect at ``effective_at``."""
        effective = min(effective_at, self.now)
        if self.now - effective > timedelta(days=5):
            self.count.backdated += 1
        self._unsaved += 1
        self.count.events += 1
        return SeededMeta.model_construct(
            coc=coc,
            actor=actor,
            source=source,
            request_id=f"syn-{self._step}",
            effective_at=effective,
            timestamp=self.now,
            event_id=self.new_id(),
        )

    def touch(self, aggregate: LedgerAggregate) -> None:
        """Mark an aggregate with new events for the next save."""
        self._dirty[aggregate.id] = aggregate

    def flush(self) -> None:
        if not self._dirty:
            return
        self.ledger.save_all(self._dirty.values(), by_recorded_time=True)
        self._dirty = {}
        self._unsaved = 0
        if self._progress is not None:
            self._progress(self.count.events, self._expected)

    # --- time ----------------------------------------------------------------------------

    def days(self, low: float, high: float) -> timedelta:
        return timedelta(days=self.rng.uniform(low, high))

    def lag(self, *, lms: bool = False) -> timedelta:
        """How long after it happened a fact is recorded: minutes for an LMS webhook, hours to
        days for an admin, and for a few weeks (paperwork that arrives late)."""
        roll = self.rng.random()
        if roll < 0.03:
            return self.days(6, 45)
        if lms:
            return timedelta(minutes=self.rng.uniform(1, 30))
        return timedelta(hours=self.rng.uniform(0.5, 60))
