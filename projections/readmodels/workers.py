"""Evaluating queued users in worker processes, so that a rebuild uses every core.

The main process derives agencies first (that queues their users), then hands out chunks of
queued users in entity-id order; each worker reads them from the generation's audit lines and
evaluates them, at one moment fixed for the whole pass; the main process writes each chunk's
rows and takes it off the queue in one transaction. The generation's position does not move
meanwhile, so every worker sees the same state. Interrupted, the queue keeps what is not
written yet, and the next run goes on with it.
"""

from __future__ import annotations

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
from projections.readmodels.projector import CHUNK, Evaluated, Projector

_worker: Projector | None = None


def _start(settings: Settings, generation: int, now: datetime, what_if: dict[str, str]) -> None:
    global _worker
    ledger = Ledger(settings.model_copy(update={"load_demo_data": False}), FixedClock(now))
    _worker = Projector(ledger, ReadModelDb(ledger), generation, ledger.clock, what_if=what_if)


def _evaluate(hex_ids: list[str]) -> Evaluated:
    assert _worker is not None, "the worker was not started"
    with _worker.db.transaction(commit=False) as cursor:
        _worker.entities.cursor = cursor
        try:
            return _worker.evaluate_users(cursor, hex_ids)
        finally:
            _worker.entities.cursor = None


def evaluate_in_workers(
    projector: Projector,
    workers: int,
    *,
    on_chunk: Callable[[], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Derive what is queued, then evaluate every queued user in ``workers`` processes."""
    while projector.derive_pending():
        pass
    context = multiprocessing.get_context("spawn")  # no inherited connections or threads
    settings = projector.ledger.settings
    now = projector.clock.now()
    with ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_start,
        initargs=(settings, projector.generation, now, projector.what_if),
    ) as pool:
        in_flight: deque[Future[Evaluated]] = deque()
        after = ""
        while stop is None or not stop.is_set():
            while len(in_flight) < 2 * workers:
                chunk = projector.next_users(after, CHUNK)
                if not chunk:
                    break
                after = chunk[-1]
                in_flight.append(pool.submit(_evaluate, chunk))
            if not in_flight:
                break
            projector.write(in_flight.popleft().result())
            if on_chunk is not None:
                on_chunk()
        for future in in_flight:
            future.cancel()
