"""The integrity loops of a long-running process (the service's threads, ``scripts/seal``):
seal what was committed and sign checkpoints when due; re-verify the log on a schedule."""

from __future__ import annotations

import threading

import structlog

from ledger.integrity.service import Integrity

log = structlog.get_logger("integrity")


def follow(integrity: Integrity, stop: threading.Event) -> None:
    """Seal every ``seal_interval_seconds`` and sign checkpoints when due, until ``stop``.
    A failed step is logged and tried again: nothing half-done is ever kept (each batch of
    leaves commits with the sealer's position)."""
    interval = integrity.settings.seal_interval_seconds
    while not stop.is_set():
        try:
            integrity.seal()
            integrity.checkpoint_if_due()
        except Exception as err:  # keep following; the next step reloads the sealed tree
            log.error("integrity.seal_failed", error=type(err).__name__, detail=str(err))
            integrity.sealer.reload()
            stop.wait(1.0)
        stop.wait(interval)


def check_on_schedule(integrity: Integrity, stop: threading.Event) -> None:
    """Run the self-check at once and then every ``selfcheck_interval_seconds``, logging what
    it found (the first mismatch by position and why; no event contents)."""
    interval = integrity.settings.selfcheck_interval_seconds
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
