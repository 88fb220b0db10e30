"""Evaluating queued users in worker processes, so that a rebuild uses every core.

The workers are started before the log is applied when the backlog is large, so that their
start-up (imports, the store, the policy packs) overlaps with applying it. The main process
derives agencies first (that queues their users), then hands out chunks of queued users in
entity-id order; each worker reads them from the generation's audit lines and evaluates
them, at one moment fixed for the whole pass; the main process writes each chunk's rows and
takes it off the queue in one transaction. The generation's position does not move
meanwhile, so every worker sees the same state. Interrupted, the queue keeps what is not
written yet, and the next run goes on with it.
"""

from __future__ import annotations

import gc
import multiprocessing
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import datetime

from ledger.application import Ledger
from ledger.clock import FixedClock
from ledger.settings import Settings
from projections.readmodels.db import ReadModelDb
from projections.readmodels.gc_tuning import BULK_THRESHOLDS
from projections.readmodels.projector import CHUNK, Evaluated, Projector

_worker: Projector | None = None
_clock: FixedClock | None = None


def _start(settings: Settings, generation: int, now: datetime, what_if: dict[str, str]) -> None:
    global _worker, _clock
    gc.set_threshold(*BULK_THRESHOLDS)  # a worker only evaluates: see gc_tuning
    _clock = FixedClock(now)
    ledger = Ledger(settings.model_copy(update={"load_demo_data": False}), _clock)
    _worker = Projector(ledger, ReadModelDb(ledger), generation, _clock, what_if=what_if)


def _ready() -> None:
    """Nothing: submitted once per worker to start them all (``_start`` runs first)."""


def _evaluate(hex_ids: list[str], now: datetime, position: int) -> Evaluated:
    """Evaluate users at ``now``, with the generation at ``position`` (what their rows say:
    a worker may have started before the log was applied)."""
    assert _worker is not None, "the worker was not started"
    assert _clock is not None
    _clock.set(now)
    _worker.position = position
    with _worker.db.transaction(commit=False) as cursor:
        _worker.entities.cursor = cursor
        try:
            return _worker.evaluate_users(cursor, hex_ids)
        finally:
            _worker.entities.cursor = None


class Workers:
    """``count`` worker processes for one projector's generation, started by ``start`` or
    at the first ``evaluate``, stopped by ``close``."""

    def __init__(self, projector: Projector, count: int) -> None:
        self.projector = projector
        self.count = count
        self.pool: ProcessPoolExecutor | None = None

    @property
    def started(self) -> bool:
        return self.pool is not None

    def start(self) -> ProcessPoolExecutor:
        if self.pool is None:
            projector = self.projector
            self.pool = ProcessPoolExecutor(
                self.count,
                mp_context=multiprocessing.get_context("spawn"),  # no inherited connections
                initializer=_start,
                initargs=(
                    projector.ledger.settings,
                    projector.generation,
                    projector.clock.now(),
                    projector.what_if,
                ),
            )
            for _ in range(self.count):  # the pool starts a process per task waiting
                self.pool.submit(_ready)
        return self.pool

    def evaluate(
        self, *, on_chunk: Callable[[], None] | None = None, stop: threading.Event | None = None
    ) -> None:
        """Derive what is queued, then evaluate every queued user in the workers."""
        projector, pool = self.projector, self.start()
        while projector.derive_pending():
            pass
        now = projector.clock.now()
        in_flight: deque[Future[Evaluated]] = deque()
        after = ""
        while stop is None or not stop.is_set():
            while len(in_flight) < 2 * self.count:
                chunk = projector.next_users(after, CHUNK)
                if not chunk:
                    break
                after = chunk[-1]
                in_flight.append(pool.submit(_evaluate, chunk, now, projector.position))
            if not in_flight:
                break
            projector.write(in_flight.popleft().result())
            if on_chunk is not None:
                on_chunk()
        for future in in_flight:
            future.cancel()

    def close(self) -> None:
        """Stop the workers without waiting for their exit: everything they evaluated is
        written by then, and tearing down a worker's heap takes a good part of a second."""
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None
