"""Evaluating users in worker processes, so that a rebuild uses every core.

The workers are started before the log is applied when the backlog is large, so that their
start-up (imports, the store, the policy packs) overlaps with applying it.

Evaluating queued users (``Workers.evaluate``): the main process derives agencies first (that
queues their users), then hands out chunks of queued users in entity-id order; each worker
reads them from the generation's audit lines and evaluates them, at one moment fixed for the
whole pass; the main process writes each chunk's rows and takes it off the queue in one
transaction. The generation's position does not move meanwhile, so every worker sees the
same state. Interrupted, the queue keeps what is not written yet, and the next run goes on
with it.

Evaluating ahead (``Workers.ahead``): a generation no reader uses yet, built from a long log,
does not wait until the log is applied. The workers evaluate every user as it stands at the
log's head H, reading the users and their agencies from the store (``EntitiesAtPosition``),
while the main process applies the log up to H and writes their rows with its batches
(users of one agency go to one worker together; an event applied meanwhile queues its
user only when it creates it, see ``Projector.begin_ahead``).
Once the generation is at H, the workers derive the agencies and intakes queued meanwhile,
as they stand at H too (their cache holds what the users' evaluations read; the main process
keeps none of them while applying in bulk). Then a user whose row was evaluated at H is taken
off the queue: nothing queued it since. The rest, and whatever came after H, is evaluated as
above. The workers run at a lower priority, so that applying the log keeps its core.
"""

from __future__ import annotations

import atexit
import gc
import multiprocessing
import os
import sys
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import datetime
from typing import Any

from eventsourcing.persistence import StoredEvent

from ledger.application import Ledger
from ledger.clock import FixedClock
from ledger.domain.end_users import EndUser
from ledger.positions import Created
from ledger.settings import Settings
from projections.readmodels.db import ReadModelDb
from projections.readmodels.entities import EVENTS_KEPT_BY_WORKERS
from projections.readmodels.events import creating_topics
from projections.readmodels.gc_tuning import BULK_THRESHOLDS
from projections.readmodels.projector import CHUNK, Derived, Evaluated, Projector

# how much less the scheduler favours a worker than the main process (os.nice)
WORKER_NICENESS = 10

_worker: Projector | None = None
_ahead: Projector | None = None  # evaluates users as they stood at a log position
_clock: FixedClock | None = None


def _start_process(
    settings: Settings, generation: int, now: datetime, what_if: dict[str, str]
) -> None:
    os.nice(WORKER_NICENESS)
    atexit.register(_exit_at_once)
    _start(settings, generation, now, what_if)


def _exit_at_once() -> None:
    """A worker's last step, once its pool stops it: end the process without tearing down
    its heap object by object (a good part of a second for a worker that evaluated a long
    log; everything it evaluated has been returned by then)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _start(settings: Settings, generation: int, now: datetime, what_if: dict[str, str]) -> None:
    global _worker, _ahead, _clock
    gc.set_threshold(*BULK_THRESHOLDS)  # a worker only evaluates: see gc_tuning
    _ahead = None
    _clock = FixedClock(now)
    # the main process made the tables: two workers making them at once can fail on PostgreSQL
    ledger = Ledger(
        settings.model_copy(update={"load_demo_data": False, "create_tables": False}), _clock
    )
    _worker = Projector(
        ledger,
        ReadModelDb(ledger),
        generation,
        _clock,
        what_if=what_if,
        events_kept=EVENTS_KEPT_BY_WORKERS,
    )


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


def _users_at(position: int) -> list[str]:
    """The users that exist at log position ``position`` (hex ids), those of one agency
    together (by CoC and the agency they were registered with, then id): a chunk of them
    then reads few agencies, and each agency is loaded by few workers, not by all of them
    (loading agencies was a fifth of a worker's time)."""
    assert _worker is not None, "the worker was not started"
    to_state = _worker.ledger.event_mapper.to_state

    def registered_with(created: Created) -> tuple[str, str, str]:
        user_id, topic, state = created
        fields = to_state(StoredEvent(user_id, 1, topic, state))[1]
        return str(fields.get("coc", "")), str(fields.get("agency_ref") or ""), user_id.hex

    created = _worker.ledger.positions.created_at(creating_topics(EndUser), position)
    return [user for _, _, user in sorted(map(registered_with, created))]


def _evaluate_at(hex_ids: list[str], now: datetime, position: int) -> Evaluated:
    """Evaluate users at ``now`` as they stood at log position ``position``, from the store."""
    projector = _at(position, now)
    return projector.evaluate_users(None, hex_ids)


def _derive_at(queued: list[tuple[str, str, str, str]], now: datetime, position: int) -> Derived:
    """Derive queued agencies and intakes at ``now`` as they stood at log position
    ``position``, with the generation there (an agency's agreements are read from it)."""
    projector = _at(position, now)
    with projector.db.transaction(commit=False) as cursor:
        return projector.derive(cursor, queued)


def _at(position: int, now: datetime) -> Projector:
    """The worker's projector of entities at log position ``position``, its clock at ``now``."""
    global _ahead
    assert _worker is not None, "the worker was not started"
    assert _clock is not None
    if _ahead is None or _ahead.position != position:
        _ahead = Projector(
            _worker.ledger,
            _worker.db,
            _worker.generation,
            _clock,
            what_if=_worker.what_if,
            at_position=position,
            events_kept=EVENTS_KEPT_BY_WORKERS,
        )
        _ahead.position = position  # what the users' rows say
    _clock.set(now)
    return _ahead


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
                initializer=_start_process,
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

    def ahead(self, position: int) -> Ahead:
        """Start evaluating every user as it stands at log position ``position``."""
        return Ahead(self, position)

    def close(self) -> None:
        """Stop the workers and wait for them: they exit at once (``_exit_at_once``). Not
        waiting left the pool's thread running into the interpreter's exit, where it could
        print an ignored "Bad file descriptor" error after a rebuild (CPython issue 83279)."""
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


class Ahead:
    """Users evaluated at a log position while the main process applies the log up to it
    (see the module): ``take`` before each batch gives what is evaluated, to be written with
    the batch, and hands out more; ``derive``, once the generation is there, hands out its
    agencies and intakes to derive; ``finish`` waits for the rest and writes it."""

    def __init__(self, workers: Workers, position: int) -> None:
        self.projector = workers.projector
        self.pool = workers.start()
        self.position = position
        self.now = self.projector.clock.now()
        self.listed: Future[list[str]] | None = self.pool.submit(_users_at, position)
        self.chunks: deque[tuple[Callable[..., Evaluated | Derived], list[Any]]] = deque()
        self.in_flight: deque[Future[Evaluated | Derived]] = deque()
        self.most = 2 * workers.count
        self.left = -1  # users to evaluate not yet taken (-1: not listed yet)

    def take(self, wait: bool = False) -> list[Evaluated | Derived]:
        """What the workers have finished (waiting for the next chunk if ``wait``), and keep
        them busy."""
        if self.listed is not None and (wait or self.listed.done()):
            users = self.listed.result()
            self.left = len(users)
            self.chunks.extend(
                (_evaluate_at, users[i : i + CHUNK]) for i in range(0, len(users), CHUNK)
            )
            self.listed = None
        done = []
        while self.in_flight and (wait or self.in_flight[0].done()):
            done.append(self.in_flight.popleft().result())
            wait = False
        while self.chunks and len(self.in_flight) < self.most:
            work, chunk = self.chunks.popleft()
            self.in_flight.append(self.pool.submit(work, chunk, self.now, self.position))
        self.left -= sum(len(d.queued) for d in done if isinstance(d, Evaluated))
        return done

    def poll(self, wait: bool = False) -> None:
        """Write what ``take`` gives, each in a transaction of its own."""
        for result in self.take(wait):
            self.projector.write(result)

    def derive(self) -> None:
        """Hand out the agencies and intakes queued to derive (once the generation is at the
        position: their agreements are read from it)."""
        if self.projector.position != self.position:
            return  # not applied up to here (stopped): what is queued is derived as usual
        queued = self.projector.queued_to_derive()
        self.chunks.extend(
            (_derive_at, queued[i : i + CHUNK]) for i in range(0, len(queued), CHUNK)
        )
        self.poll()

    def finish(
        self, stop: threading.Event | None = None, on_chunk: Callable[[], None] | None = None
    ) -> None:
        while (stop is None or not stop.is_set()) and (
            self.listed is not None or self.chunks or self.in_flight
        ):
            self.poll(wait=True)
            if on_chunk is not None:
                on_chunk()

    def cancel(self) -> None:
        """Drop what is not evaluated yet (what is written stays)."""
        for future in self.in_flight:
            future.cancel()
        self.in_flight.clear()
        self.chunks.clear()
