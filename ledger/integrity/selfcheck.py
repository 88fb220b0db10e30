"""The self-check: re-verify the stored log against the sealed tree and its signed checkpoints,
and name the first mismatch.

One pass over the stored events in log order, beside the sealed leaves and stored nodes:

1. each stored event must be the sealed leaf of its position: an event whose bytes changed, a
   sealed event that is gone, and an event the tree never sealed (inserted into the sealed
   range) are each named by position;
2. the tree recomputed from the stored events must give each checkpoint's root; if the sealed
   leaves were rewritten together with the events, the first checkpoint that disagrees bounds
   where (between it and the previous one);
3. the stored nodes must be the recomputed ones (proofs are read from them);
4. every checkpoint must be signed by the key the log records as in force for its tree.

Events after the sealed tail are counted, not judged: the sealer has not reached them yet.
Reads go in pages of short transactions (scan.py), so writers are never held up. Checkpoints
and the sealer's position are read before the leaves, so a sealer running meanwhile never
makes the store look damaged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from ledger.application import Ledger
from ledger.errors import VerificationFailed
from ledger.integrity import checkpoints
from ledger.integrity.checkpoints import Checkpoint
from ledger.integrity.keyring import in_force, recorded_keys
from ledger.integrity.scan import Found, Mismatch, scan
from ledger.integrity.store import IntegrityStore

__all__ = ["Mismatch", "Report", "selfcheck"]


@dataclass
class Report:
    """What a self-check found."""

    tree_size: int = 0
    events_checked: int = 0
    unsealed: int = 0
    checkpoints_checked: int = 0
    latest_checkpoint: Checkpoint | None = None
    first_mismatch: Mismatch | None = None
    seconds: float = 0.0
    checked_at: datetime | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.first_mismatch is None

    def as_json(self) -> dict[str, object]:
        latest = self.latest_checkpoint
        mismatch = self.first_mismatch
        return {
            "ok": self.ok,
            "checked_at": self.checked_at.isoformat() if self.checked_at else None,
            "tree_size": self.tree_size,
            "events_checked": self.events_checked,
            "unsealed_events": self.unsealed,
            "checkpoints_checked": self.checkpoints_checked,
            "latest_checkpoint": latest.tree_size if latest else None,
            "first_mismatch": None
            if mismatch is None
            else {
                "position": mismatch.position,
                "leaf_index": mismatch.leaf_index,
                "reason": mismatch.reason,
                "text": mismatch.describe(),
            },
            "notes": self.notes,
            "seconds": round(self.seconds, 3),
        }


def selfcheck(ledger: Ledger, store: IntegrityStore, now: datetime) -> Report:
    """Verify the stored log against the sealed tree and every checkpoint."""
    started = time.perf_counter()
    report = Report(checked_at=now)
    try:
        tracked = store.sealed_position()  # read before the leaves: never behind them
        signed = _checkpoints(store)
        report.latest_checkpoint = signed[-1] if signed else None
        scanned = scan(store, signed)
        report.tree_size = report.events_checked = scanned.leaves
        report.checkpoints_checked, report.unsealed = scanned.checkpoints, scanned.unsealed
        last_sealed = scanned.last_position
        if last_sealed < tracked:
            raise Found(
                Mismatch(
                    f"the sealer recorded the log as sealed up to position {tracked}, but the "
                    f"sealed leaves end at position {last_sealed}: sealed leaves were removed",
                    tracked,
                )
            )
        _signatures(ledger, signed, report)
    except Found as found:
        report.first_mismatch = found.mismatch
    if report.latest_checkpoint is None and report.ok:
        report.notes.append("no checkpoint yet: the log was checked against the sealed leaves")
    report.seconds = time.perf_counter() - started
    return report


def _checkpoints(store: IntegrityStore) -> list[Checkpoint]:
    parsed: list[Checkpoint] = []
    for size, note, signature in checkpoints.every(store):
        try:
            checkpoint = Checkpoint.parse(note, signature)
        except VerificationFailed as err:
            message = f"the stored checkpoint of size {size} is damaged: {err}"
            raise Found(Mismatch(message)) from None
        if checkpoint.tree_size != size:
            raise Found(Mismatch(f"the stored checkpoint of size {size} states another size"))
        parsed.append(checkpoint)
    return parsed


def _signatures(ledger: Ledger, signed: list[Checkpoint], report: Report) -> None:
    keys = recorded_keys(ledger)
    for checkpoint in signed:
        key = in_force(keys, checkpoint.last_position)
        if key is None or key.key_id != checkpoint.key_id:
            raise Found(
                Mismatch(
                    f"the checkpoint of size {checkpoint.tree_size} names key "
                    f"{checkpoint.key_id}, but the log has "
                    f"{key.key_id if key else 'no key'} in force for that tree"
                )
            )
        if not checkpoint.verifies_with(key.public_key):
            raise Found(
                Mismatch(
                    f"the signature of the checkpoint of size {checkpoint.tree_size} does "
                    f"not verify with key {key.key_id}"
                )
            )
