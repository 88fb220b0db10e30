"""Keeps the current generation up to date, also across a switch made by another process
(``scripts/rebuild``): used by the service's background thread and ``scripts/project``."""

from __future__ import annotations

import threading
import time

import structlog

from ledger.application import Ledger
from ledger.clock import Clock
from projections.readmodels import generations
from projections.readmodels.db import ReadModelDb
from projections.readmodels.follower import Follower

log = structlog.get_logger("readmodels")
# users kept built between evaluations: a user written again is brought up to date from its
# newer events instead of being built from all of them (about 10-50 kB each)
USERS_KEPT = 5_000


class CurrentGenerationRunner:
    def __init__(
        self,
        ledger: Ledger,
        db: ReadModelDb,
        clock: Clock,
        interval: float = 0.2,
        settle: float = 0.01,
    ) -> None:
        self.ledger = ledger
        self.db = db
        self.clock = clock
        self.interval = interval
        self.settle = settle
        self.follower: Follower | None = None

    def step(self) -> None:
        """Catch the current generation up with the log (switching followers if needed)."""
        number = generations.ensure_current(self.db, self.clock.now())
        if self.follower is None or self.follower.generation != number:
            self.follower = Follower(
                self.ledger, self.db, number, self.clock, users_kept=USERS_KEPT
            )
            log.info("readmodels.following", generation=number, position=self.follower.position)
        self.follower.catch_up()

    def run(
        self,
        stop: threading.Event,
        refresh: float = 60.0,
        wake: threading.Event | None = None,
    ) -> None:
        """Follow until ``stop``; a failed step is logged and tried again (nothing is lost:
        a batch either committed with its position or left no trace). Between steps it
        waits ``interval``, or less when ``wake`` is set (by a write in this process), then
        ``settle`` more so that a burst of writes is followed in one batch."""
        refreshed = float("-inf")
        while not stop.is_set():
            try:
                self.step()
                if self.follower is not None and time.monotonic() - refreshed >= refresh:
                    self.follower.projector.mark_stale()
                    refreshed = time.monotonic()
            except Exception as err:  # keep following: the next step starts from the table
                log.error("readmodels.step_failed", error=type(err).__name__, detail=str(err))
                self.follower = None
                stop.wait(1.0)
            if wake is None:
                stop.wait(self.interval)
            elif wake.wait(self.interval):
                wake.clear()
                stop.wait(self.settle)
