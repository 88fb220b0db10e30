"""The integrity loops of a long-running process (the service's threads, ``scripts/seal``):
seal what was committed and sign checkpoints when due; re-verify the log on a schedule."""

from __future__ import annotations

import threading
import time

import structlog

from ledger.integrity.service import Integrity

log = structlog.get_logger("integrity")


def follow(
    integrity: Integrity, stop: threading.Event, caught_up: threading.Event | None = None
) -> None:
    """Seal every ``seal_interval_seconds`` and sign checkpoints when due, until ``stop``;
    ``caught_up`` is set once the log as it was at start is sealed. A failed step is logged
    and tried again: nothing half-done is ever kept (each batch of leaves commits with the
    sealer's position)."""
    interval = integrity.settings.seal_interval_seconds
    while not stop.is_set():
        try:
            integrity.seal()
            integrity.checkpoint_if_due()
            if caught_up is not None:
                caught_up.set()
        except Exception as err:  # keep following; the next step reloads the sealed tree
            log.error("integrity.seal_failed", error=type(err).__name__, detail=str(err))
            integrity.sealer.reload()
            stop.wait(1.0)
        stop.wait(interval)


def check_on_schedule(
    integrity: Integrity, stop: threading.Event, caught_up: threading.Event | None = None
) -> None:
    """Run the self-check once the sealer has ``caught_up`` (at once without one), then every
    ``selfcheck_interval_seconds``, logging what it found (the first mismatch by position and
    why; never event contents)."""
    interval = integrity.settings.selfcheck_interval_seconds
    give_up = time.monotonic() + min(interval, 600)  # a sealer stuck (logged): check anyway
    while caught_up is not None and not caught_up.is_set() and not stop.is_set():
        if time.monotonic() > give_up:
            break
        caught_up.wait(0.2)
    while not stop.is_set():
        try:
            report = integrity.selfcheck()
        except Exception as err:  # the store may be unreachable for a while
            log.error("integrity.selfcheck_failed", error=type(err).__name__, detail=str(err))
        else:
            if report.ok:
                log.info(
                    "integrity.selfcheck_ok",
                    tree_size=report.tree_size,
                    checkpoints=report.checkpoints_checked,
                    seconds=round(report.seconds, 3),
                )
            else:
                assert report.first_mismatch is not None
                log.error(
                    "integrity.selfcheck_mismatch",
                    position=report.first_mismatch.position,
                    leaf_index=report.first_mismatch.leaf_index,
                    reason=report.first_mismatch.reason,
                )
        stop.wait(interval)
