"""Follows the event log by pulling: reads what comes after the generation's position,
applies it in batches, then evaluates the users it queued."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

from ledger.application import Ledger
from ledger.clock import Clock
from projections.readmodels import generations
from projections.readmodels.db import ReadModelDb
from projections.readmodels.gc_tuning import fewer_collections
from projections.readmodels.projector import CHUNK, Derived, Evaluated, Projector
from projections.readmodels.workers import Ahead, Workers

Progress = Callable[["Step"], None]
# batch size for building a whole generation: larger batches mean fewer commits
REBUILD_BATCH = 10_000
# queued users from which evaluating them in worker processes pays for starting those
PARALLEL_FROM = 4 * CHUNK
# a backlog of events worked through in bulk (a rebuild, a follower far behind): the garbage
# collector runs less often (gc_tuning) and worker processes start before it is applied, so
# that their start-up overlaps with applying it (a user has about 20 events in generated logs);
# a generation no reader uses yet is loaded without its audit trail's entity and feed indexes
# and the triggers that count its users (db.ENTITY_INDEX, db.drop_user_counting)
BACKLOG_FROM = 10 * PARALLEL_FROM


@dataclass(frozen=True)
class Step:
    """Where a follower is: its position, the log's head, users still to evaluate (-1 while
    the log is applied), and while the workers evaluate users ahead of it (see ``workers``)
    how many of those they have still to evaluate (-1 otherwise, or before they are
    counted)."""

    position: int
    head: int
    applied: int
    pending: int
    ahead: int = -1


class Follower:
    """Keeps one generation up to date with the log.

    Positions are assigned in commit order (SQLite has one writer; eventsourcing's
    PostgreSQL recorder locks the table for each insert), so everything below a visible
    position has committed; gaps left by rolled-back inserts are never filled and are simply
    passed over. Each batch commits its rows with its last position, so a follower killed at
    any point resumes from the last committed batch: no event is applied twice or missed.
    """

    def __init__(
        self,
        ledger: Ledger,
        db: ReadModelDb,
        generation: int,
        clock: Clock,
        *,
        batch_size: int = 1000,
        cache_size: int = 20_000,
        what_if: dict[str, str] | None = None,
        workers: int = 1,
        users_kept: int = 0,
    ) -> None:
        """``workers`` > 1 evaluates large queues of users in that many processes;
        ``users_kept`` built users are kept between evaluations (see ``Entities``)."""
        self.ledger = ledger
        self.batch_size = batch_size
        self.workers = workers
        self.building = any(
            g.number == generation and g.status == generations.BUILDING
            for g in generations.generations(db)
        )
        self.projector = Projector(
            ledger,
            db,
            generation,
            clock,
            cache_size=cache_size,
            what_if=what_if,
            users_kept=users_kept,
        )

    @property
    def generation(self) -> int:
        return self.projector.generation

    @property
    def position(self) -> int:
        return self.projector.position

    def apply_next(self, until: int | None = None, done: Sequence[Evaluated | Derived] = ()) -> int:
        """Apply the next batch from the log (up to position ``until``, if given), writing
        ``done`` (workers' rows) with it; returns how many notifications it had."""
        notifications = self.ledger.positions.notifications(
            self.projector.position + 1, self.batch_size
        )
        if until is not None and notifications and notifications[-1].id > until:
            # not the recorder's ``stop``: on PostgreSQL its prepared statement's generic plan
            # read every row up to ``stop`` for each batch (14 s of a 500,000-event rebuild)
            notifications = [n for n in notifications if n.id <= until]
        try:
            self.projector.apply(notifications, done)
        except Exception:
            # another process may have applied the same batch: start again from the table
            self.projector.position = self.projector.db.position(self.generation)
            raise
        return len(notifications)

    def catch_up(
        self, progress: Progress | None = None, stop: threading.Event | None = None
    ) -> Step:
        """Apply everything in the log now, then evaluate every queued user."""
        backlog = self.lag() >= BACKLOG_FROM
        workers = Workers(self.projector, self.workers) if self.workers > 1 else None
        if workers is not None and backlog:
            workers.start()  # their start-up overlaps with applying the log
        if backlog and self.building:
            self.projector.begin_bulk()
        try:
            with fewer_collections() if backlog else nullcontext():
                applied = 0
                if workers is not None and backlog and self.building:
                    applied = self._apply_ahead(workers, progress, stop)
                return self._catch_up(workers, progress, stop, applied)
        finally:
            if workers is not None:
                workers.close()

    def _apply(
        self,
        progress: Progress | None,
        stop: threading.Event | None,
        applied: int,
        *,
        until: int | None = None,
        ahead: Ahead | None = None,
    ) -> int:
        """Apply batches until the log (or position ``until``) is reached or ``stop`` is set,
        each with what the workers evaluated ``ahead`` meanwhile. Returns ``applied`` plus
        what was applied."""
        while stop is None or not stop.is_set():
            count = self.apply_next(until, ahead.take() if ahead is not None else ())
            applied += count
            if progress is not None and count:
                left = ahead.left if ahead is not None else -1
                progress(Step(self.position, self.ledger.head(), applied, -1, left))
            if count < self.batch_size:
                break
        return applied

    def _apply_ahead(
        self, workers: Workers, progress: Progress | None, stop: threading.Event | None
    ) -> int:
        """Apply the log up to its head H while the workers evaluate every user as it
        stands at H, then derive its agencies and intakes at H (see ``workers``); then take
        those users off the queue."""
        head = self.ledger.head()
        self.ledger.positions.refresh_statistics()  # the workers read the log by entity
        ahead = workers.ahead(head)
        self.projector.begin_ahead()
        try:
            applied = self._apply(progress, stop, 0, until=head, ahead=ahead)
            if stop is not None and stop.is_set():
                return applied
            self.projector.end_bulk()
            ahead.derive()

            def report() -> None:  # the users the workers have still to evaluate at H
                if progress is not None:
                    left = max(ahead.left, 0)
                    progress(Step(self.position, self.ledger.head(), applied, left, left))

            ahead.finish(stop, on_chunk=report)
        finally:
            self.projector.end_ahead()
            ahead.cancel()
        self.projector.drop_evaluated_since(head)
        return applied

    def _catch_up(
        self,
        workers: Workers | None,
        progress: Progress | None,
        stop: threading.Event | None,
        applied: int,
    ) -> Step:
        applied = self._apply(progress, stop, applied)
        if stop is not None and stop.is_set():
            return Step(self.position, self.ledger.head(), applied, self.projector.pending())
        if self.building:
            self.projector.end_bulk()  # before users are read from their audit lines

        def report() -> None:
            if progress is not None:
                progress(Step(self.position, self.ledger.head(), applied, self.projector.pending()))

        if workers is not None and (workers.started or self.projector.pending() > PARALLEL_FROM):
            workers.evaluate(on_chunk=report, stop=stop)
        while (stop is None or not stop.is_set()) and self.projector.evaluate_pending():
            report()
        return Step(self.position, self.ledger.head(), applied, self.projector.pending())

    def lag(self) -> int:
        return max(self.ledger.head() - self.position, 0)
