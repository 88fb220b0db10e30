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
Reads go in pages of short transactions, so writers are never held up.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from hashlib import sha256

from ledger.application import Ledger
from ledger.errors import VerificationFailed
from ledger.integrity import checkpoints
from ledger.integrity.checkpoints import Checkpoint
from ledger.integrity.keyring import in_force, recorded_keys
from ledger.integrity.leaves import LEAF_FORMAT, LEAF_HEAD, LENGTH, NODE_PREFIX
from ledger.integrity.store import IntegrityStore
from ledger.integrity.tree import STRIDE, fold

PAGE = 20_000


@dataclass(frozen=True)
class Mismatch:
    """The first thing that does not verify: where, and why."""

    reason: str
    position: int | None = None
    leaf_index: int | None = None

    def describe(self) -> str:
        where = []
        if self.position is not None:
            where.append(f"position {self.position}")
        if self.leaf_index is not None:
            where.append(f"leaf {self.leaf_index}")
        return f"{', '.join(where)}: {self.reason}" if where else self.reason


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


class _Found(Exception):
    def __init__(self, mismatch: Mismatch) -> None:
        self.mismatch = mismatch


def selfcheck(ledger: Ledger, store: IntegrityStore, now: datetime) -> Report:
    """Verify the stored log against the sealed tree and every checkpoint."""
    started = time.perf_counter()
    report = Report(checked_at=now)
    try:
        tracked = store.sealed_position()  # read before the leaves: never behind them
        signed = _checkpoints(store)
        report.latest_checkpoint = signed[-1] if signed else None
        last_sealed = _scan(store, signed, report)
        if last_sealed < tracked:
            raise _Found(
                Mismatch(
                    f"the sealer recorded the log as sealed up to position {tracked}, but the "
                    f"sealed leaves end at position {last_sealed}: sealed leaves were removed",
                    tracked,
                )
            )
        _signatures(ledger, signed, report)
    except _Found as found:
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
            raise _Found(Mismatch(message)) from None
        if checkpoint.tree_size != size:
            raise _Found(Mismatch(f"the stored checkpoint of size {size} states another size"))
        parsed.append(checkpoint)
    return parsed


def _scan(store: IntegrityStore, signed: list[Checkpoint], report: Report) -> int:
    """Steps 1 to 3 of the module docstring, in one pass (written for speed: one leaf is a
    few microseconds, about what hashing the same bytes in a chain costs). Returns the
    position of the last sealed leaf (0 if none)."""
    due = iter(signed)
    checkpoint = next(due, None)
    previous_size = 0
    stored_nodes = {level: _NodeStream(store, level) for level in range(STRIDE, 64, STRIDE)}
    hashes: list[bytes] = []
    head, length = LEAF_HEAD.pack, LENGTH.pack
    rows: list[tuple[int, str, int, str, bytes]] = []
    at, after, exhausted = 0, None, False
    leaf_index, position = 0, 0
    for page in _leaf_pages(store):
        for index, position, sealed in page:
            if at == len(rows) and not exhausted:
                rows, at = store.row_tuples_after(after, PAGE), 0
                exhausted = len(rows) < PAGE
                if rows:
                    after = rows[-1][0]
            if at == len(rows) or rows[at][0] > position:
                raise _Found(
                    Mismatch(
                        "a sealed event is missing from the log (deleted, or moved elsewhere)",
                        position,
                        index,
                    )
                )
            row_position, originator_id, version, topic, state = rows[at]
            at += 1
            if row_position < position:
                raise _Found(
                    Mismatch(
                        "an event the tree never sealed lies between sealed ones (inserted "
                        "after sealing, or moved here)",
                        row_position,
                    )
                )
            oid, text = originator_id.encode(), topic.encode()
            digest = sha256(head(0, LEAF_FORMAT, position, version, len(oid)) + oid)
            digest.update(length(len(text)) + text + length(len(state)))
            digest.update(state)
            computed = digest.digest()
            if computed != sealed:
                raise _Found(
                    Mismatch(
                        "the stored event is not the one sealed here (changed after sealing)",
                        position,
                        index,
                    )
                )
            # the frontier (tree.Frontier.append), inlined; nodes at STRIDE levels compared
            size, value, level = leaf_index, computed, 0
            while size & 1:
                value = sha256(NODE_PREFIX + hashes.pop() + value).digest()
                size >>= 1
                level += 1
                if not level % STRIDE:
                    stored_nodes[level].expect(((leaf_index + 1) >> level) - 1, value, position)
            hashes.append(value)
            leaf_index += 1
            if checkpoint is not None and checkpoint.tree_size == leaf_index:
                _at_checkpoint(checkpoint, fold(hashes), position, previous_size)
                previous_size = leaf_index
                report.checkpoints_checked += 1
                checkpoint = next(due, None)
    report.tree_size = report.events_checked = leaf_index
    if checkpoint is not None:
        raise _Found(
            Mismatch(
                f"the checkpoint of size {checkpoint.tree_size} (last position "
                f"{checkpoint.last_position}) covers more leaves than are sealed "
                f"({leaf_index}): sealed leaves were removed",
                checkpoint.last_position,
            )
        )
    report.unsealed = len(rows) - at
    while not exhausted:
        rows = store.row_tuples_after(after, PAGE)
        exhausted = len(rows) < PAGE
        report.unsealed += len(rows)
        if rows:
            after = rows[-1][0]
    return position


def _at_checkpoint(checkpoint: Checkpoint, root: bytes, position: int, previous_size: int) -> None:
    if checkpoint.root_hash != root or checkpoint.last_position != position:
        raise _Found(
            Mismatch(
                f"the stored events and the sealed leaves agree, but not with the checkpoint "
                f"of size {checkpoint.tree_size} signed at {checkpoint.signed_at.isoformat()}: "
                f"both were rewritten somewhere in leaves {previous_size} to "
                f"{checkpoint.tree_size - 1}",
                position,
            )
        )


def _signatures(ledger: Ledger, signed: list[Checkpoint], report: Report) -> None:
    keys = recorded_keys(ledger)
    for checkpoint in signed:
        key = in_force(keys, checkpoint.last_position)
        if key is None or key.key_id != checkpoint.key_id:
            raise _Found(
                Mismatch(
                    f"the checkpoint of size {checkpoint.tree_size} names key "
                    f"{checkpoint.key_id}, but the log has "
                    f"{key.key_id if key else 'no key'} in force for that tree"
                )
            )
        if not checkpoint.verifies_with(key.public_key):
            raise _Found(
                Mismatch(
                    f"the signature of the checkpoint of size {checkpoint.tree_size} does "
                    f"not verify with key {key.key_id}"
                )
            )


def _leaf_pages(store: IntegrityStore) -> Iterator[list[tuple[int, int, bytes]]]:
    start = 0
    while True:
        page = store.leaves(start, PAGE)
        if page:
            yield page
        if len(page) < PAGE:
            return
        start = page[-1][0] + 1


class _NodeStream:
    """One level of stored nodes, compared in order with the recomputed ones."""

    def __init__(self, store: IntegrityStore, level: int) -> None:
        self.store = store
        self.level = level
        self.page: dict[int, bytes] = {}

    def expect(self, index: int, value: bytes, position: int) -> None:
        if index not in self.page:
            self.page = dict(self.store.nodes(self.level, index, PAGE))
        if self.page.get(index) != value:
            raise _Found(
                Mismatch(
                    f"the stored node (level {self.level}, index {index}) is not the hash of "
                    f"the leaves below it: proofs through it would fail (stored nodes damaged)",
                    position,
                    (index + 1) * (1 << self.level) - 1,
                )
            )
