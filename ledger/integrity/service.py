"""What the API and the scripts ask of the tamper-evident history: sealing, checkpoints,
proofs, exports and the self-check, over one store (one ``Integrity`` per process)."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import orjson

from ledger.application import Ledger
from ledger.clock import Clock
from ledger.errors import InvalidInput, NotFound, SigningUnavailable, VerificationFailed
from ledger.integrity import checkpoints, documents, keys, selection
from ledger.integrity.checkpoints import Checkpoint
from ledger.integrity.keyring import KeyRecord, in_force, recorded_keys
from ledger.integrity.leaves import StoredRow, leaf_hash
from ledger.integrity.prover import consistency_proof, inclusion_proofs
from ledger.integrity.sealer import Sealer
from ledger.integrity.selection import Subject
from ledger.integrity.selfcheck import Report, selfcheck
from ledger.integrity.store import IntegrityStore
from ledger.settings import Settings


class Integrity:
    """The integrity services of one process. Thread-safe: sealing and signing take a lock."""

    def __init__(self, ledger: Ledger, settings: Settings, clock: Clock | None = None) -> None:
        self.ledger = ledger
        self.settings = settings
        self.clock = clock or ledger.clock
        self.store = IntegrityStore(ledger)
        self.sealer = Sealer(ledger, self.store, settings.integrity_origin)
        self._lock = threading.Lock()
        self.last_selfcheck: Report | None = None

    # --- sealing and signing -------------------------------------------------------------

    def signing_key(self) -> keys.SigningKey | None:
        """The operator's key, read from its file on each use (a rotated file is picked up)."""
        return keys.load(self.settings.signing_key_path)

    def seal(self) -> int:
        with self._lock:
            return self.sealer.catch_up()

    def checkpoint_if_due(self) -> Checkpoint | None:
        """Sign a checkpoint if the tree grew and the latest is older than the interval."""
        every = timedelta(seconds=self.settings.checkpoint_interval_seconds)
        with self._lock:
            return self.sealer.checkpoint(self.signing_key, self.clock.now(), every)

    def fresh_checkpoint(self, key: keys.SigningKey) -> Checkpoint:
        """Seal everything committed now and sign a checkpoint of it with ``key``, which must
        be the key in force (SigningUnavailable otherwise)."""
        with self._lock:
            self.sealer.catch_up()
            state = self.sealer.state
            expected = in_force(recorded_keys(self.ledger), state.last_position)
            if expected is None or expected.key_id != key.key_id:
                raise SigningUnavailable(
                    f"this process holds key {key.key_id}, but the key in force is "
                    f"{expected.key_id if expected else 'none (scripts/signing-key init)'}"
                )
            self.sealer.checkpoint(key, self.clock.now())
        latest = checkpoints.latest(self.store)
        if latest is None:
            raise NotFound("nothing is sealed yet: the log is empty")
        return latest

    # --- reading -------------------------------------------------------------------------

    def checkpoint(self, tree_size: int | None = None) -> Checkpoint:
        """The checkpoint of this size (None: the latest)."""
        found = (
            checkpoints.latest(self.store)
            if tree_size is None
            else checkpoints.of_size(self.store, tree_size)
        )
        if found is None:
            if tree_size is None:
                raise NotFound("no checkpoint is signed yet (scripts/signing-key init, then wait)")
            raise NotFound(
                f"no checkpoint of {tree_size} leaves was signed; GET "
                "/v1/integrity/checkpoints/latest names the newest"
            )
        return found

    def key_records(self) -> list[KeyRecord]:
        return recorded_keys(self.ledger)

    def key_of(self, checkpoint: Checkpoint) -> KeyRecord:
        for key in self.key_records():
            if key.key_id == checkpoint.key_id:
                return key
        raise VerificationFailed(
            f"the checkpoint of size {checkpoint.tree_size} names key {checkpoint.key_id}, "
            "which the ledger does not record"
        )

    def status(self) -> dict[str, Any]:
        latest = checkpoints.latest(self.store)
        records = self.key_records()
        sealed = self.store.sealed_position()
        head = self.ledger.head()
        held = self.signing_key()
        current = records[-1].key_id if records else None
        return {
            "tree_size": self.store.tree_size(),
            "sealed_position": sealed,
            "head": head,
            "unsealed_positions": max(head - sealed, 0),
            "latest_checkpoint": None
            if latest is None
            else {
                k: v
                for k, v in latest.as_json().items()
                if k in ("tree_size", "last_position", "root_hash", "signed_at", "key_id")
            },
            "key_in_force": current,
            "signing_key_held": held is not None and held.key_id == current,
            "last_selfcheck": None
            if self.last_selfcheck is None
            else self.last_selfcheck.as_json(),
        }

    def inclusion(self, coc: str, position: int, tree_size: int | None = None) -> dict[str, Any]:
        """The inclusion document of the event at ``position``, which must be ``coc``'s (any
        other answers as a position with no event)."""
        missing = NotFound(f"no event of {coc} at position {position}")
        rows = self.store.rows_at([position])
        if not rows or not _belongs_to(rows[0], coc):
            raise missing
        checkpoint = self.checkpoint(tree_size)
        sealed = self.store.leaves_at([position]).get(position)
        if sealed is None or sealed[0] >= checkpoint.tree_size:
            raise NotFound(
                f"the event at position {position} is not in the checkpoint of size "
                f"{checkpoint.tree_size} yet; a newer checkpoint will hold it"
            )
        leaf_index, digest = sealed
        _check_sealed(rows[0], digest)
        proof = inclusion_proofs(self.store, [leaf_index], checkpoint.tree_size)[leaf_index]
        return documents.inclusion(checkpoint, self.key_of(checkpoint), rows[0], leaf_index, proof)

    def consistency(self, first: int | None, second: int | None) -> dict[str, Any]:
        """The consistency document of two checkpoints (None: the latest)."""
        older, newer = self.checkpoint(first), self.checkpoint(second)
        if older.tree_size > newer.tree_size:
            raise InvalidInput("first must not be larger than second", field="first")
        proof = consistency_proof(self.store, older.tree_size, newer.tree_size)
        keys_used = [self.key_of(older)]
        if newer.key_id != older.key_id:
            keys_used.append(self.key_of(newer))
        return documents.consistency(older, newer, keys_used, proof)

    def export(self, subject: Subject) -> dict[str, Any]:
        """The bundle of ``subject``'s history, under a checkpoint signed now."""
        key = self.signing_key()
        if key is None:
            raise SigningUnavailable(
                "an export is signed by the operator's key, and this process holds none "
                f"(signing_key_path: {self.settings.signing_key_path.name})"
            )
        checkpoint = self.fresh_checkpoint(key)
        ids = selection.entity_ids(self.store, subject, checkpoint.last_position)
        every_row = self.store.rows_of(ids | selection.key_ids())
        rows = [r for r in every_row if r.position <= checkpoint.last_position]
        sealed = self.store.leaves_at([r.position for r in rows])
        for row in rows:
            if row.position not in sealed:
                raise VerificationFailed(
                    f"the event at position {row.position} lies in the checkpoint's range but "
                    "was never sealed; run scripts/selfcheck",
                    position=row.position,
                )
            _check_sealed(row, sealed[row.position][1])
        indexes = [sealed[r.position][0] for r in rows]
        proofs = inclusion_proofs(self.store, indexes, checkpoint.tree_size)
        now = self.clock.now()
        positions = [r.position for r in rows]
        text = documents.statement(subject.describe(), checkpoint, now, positions)
        keys_used = [k for k in self.key_records() if k.position <= checkpoint.last_position]
        return documents.bundle(
            {"kind": subject.kind, "coc": subject.coc, "ref": subject.ref},
            checkpoint,
            keys_used,
            [(r, i, proofs[i]) for r, i in zip(rows, indexes, strict=True)],
            text,
            key.sign(text.encode()),
            len(every_row) - len(rows),
        )

    def selfcheck(self) -> Report:
        report = selfcheck(self.ledger, self.store, self.clock.now())
        self.last_selfcheck = report
        return report


def _belongs_to(row: StoredRow, coc: str) -> bool:
    """Whether a stored event is one of ``coc``'s exportable facts."""
    if row.topic not in selection.exportable_topics():
        return False
    try:
        state = orjson.loads(row.state)
    except orjson.JSONDecodeError:
        return False
    return isinstance(state, dict) and state.get("coc") == coc


def _check_sealed(row: StoredRow, sealed: bytes) -> None:
    if leaf_hash(row) != sealed:
        raise VerificationFailed(
            f"the stored event at position {row.position} is not the one sealed there; "
            "run scripts/selfcheck",
            position=row.position,
        )


def parse_size(text: str | None, name: str) -> int | None:
    """A tree size given as a number or ``latest`` (None)."""
    if text is None or text == "latest":
        return None
    if not text.isdigit() or not 0 < int(text) < 2**62:
        raise InvalidInput(f"{name} is a tree size (1, 2, ...) or 'latest'", field=name)
    return int(text)
