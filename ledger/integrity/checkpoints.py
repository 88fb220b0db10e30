"""Signed checkpoints: tree size, root hash and time, signed with the operator's Ed25519 key.

What is signed is a short text, the *note*, kept verbatim with its signature (UTF-8, each
line ending in a newline, in this order)::

    coc-ledger checkpoint v1
    origin: <the log's name, Settings.integrity_origin>
    tree-size: <number of leaves>
    last-position: <log position of the last leaf>
    root-hash: <base64 of the RFC 9162 root>
    signed-at: <UTC time, YYYY-MM-DDTHH:MM:SS.ffffffZ>
    key-id: <id of the signing key>

The origin keeps one deployment's checkpoints from passing for another's. Anyone with the
public key checks a checkpoint; ``scripts/verify.py`` parses the same text.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ledger.errors import VerificationFailed
from ledger.integrity.keys import SigningKey, verify_signature
from ledger.integrity.store import IntegrityStore

HEADER = "coc-ledger checkpoint v1"
_FIELDS = ("origin", "tree-size", "last-position", "root-hash", "signed-at", "key-id")
_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    tree_size: int
    last_position: int
    root_hash: bytes
    signed_at: datetime
    key_id: str
    signature: bytes

    @property
    def note(self) -> str:
        values = (
            self.origin,
            str(self.tree_size),
            str(self.last_position),
            base64.b64encode(self.root_hash).decode(),
            self.signed_at.astimezone(UTC).strftime(_TIME),
            self.key_id,
        )
        return HEADER + "\n" + "".join(f"{n}: {v}\n" for n, v in zip(_FIELDS, values, strict=True))

    @classmethod
    def sign(
        cls,
        key: SigningKey,
        origin: str,
        tree_size: int,
        last_position: int,
        root_hash: bytes,
        at: datetime,
    ) -> Checkpoint:
        unsigned = cls(origin, tree_size, last_position, root_hash, at, key.key_id, b"")
        signature = key.sign(unsigned.note.encode())
        return cls(origin, tree_size, last_position, root_hash, at, key.key_id, signature)

    @classmethod
    def parse(cls, note: str, signature: bytes) -> Checkpoint:
        """The checkpoint a note states (VerificationFailed if it is not one)."""
        lines = note.split("\n")
        if lines[0] != HEADER or lines[-1] != "" or len(lines) != len(_FIELDS) + 2:
            raise VerificationFailed("not a coc-ledger checkpoint v1 note")
        values: dict[str, str] = {}
        for name, line in zip(_FIELDS, lines[1:-1], strict=True):
            prefix = f"{name}: "
            if not line.startswith(prefix):
                raise VerificationFailed(f"checkpoint note: expected {name!r}, got {line!r}")
            values[name] = line[len(prefix) :]
        try:
            checkpoint = cls(
                origin=values["origin"],
                tree_size=int(values["tree-size"]),
                last_position=int(values["last-position"]),
                root_hash=base64.b64decode(values["root-hash"], validate=True),
                signed_at=datetime.strptime(values["signed-at"], _TIME).replace(tzinfo=UTC),
                key_id=values["key-id"],
                signature=signature,
            )
        except ValueError as err:
            raise VerificationFailed(f"checkpoint note: {err}") from err
        if checkpoint.note != note:
            raise VerificationFailed("checkpoint note is not in canonical form")
        return checkpoint

    def verifies_with(self, public_key: bytes) -> bool:
        return verify_signature(public_key, self.signature, self.note.encode())

    def as_json(self) -> dict[str, object]:
        return {
            "origin": self.origin,
            "tree_size": self.tree_size,
            "last_position": self.last_position,
            "root_hash": base64.b64encode(self.root_hash).decode(),
            "signed_at": self.signed_at.astimezone(UTC).strftime(_TIME),
            "key_id": self.key_id,
            "note": self.note,
            "signature": base64.b64encode(self.signature).decode(),
        }


# --- the checkpoints table ---------------------------------------------------------------

_COLUMNS = "tree_size, last_position, root_hash, signed_at, key_id, note, signature"


def save(store: IntegrityStore, checkpoint: Checkpoint) -> None:
    """Keep a checkpoint (one per tree size: a second one of the same size is dropped)."""
    with store.transaction() as cursor:
        cursor.execute(
            store.sql(
                f"INSERT INTO {{integrity_checkpoints}} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (tree_size) DO NOTHING"
            ),
            (
                checkpoint.tree_size,
                checkpoint.last_position,
                checkpoint.root_hash,
                checkpoint.signed_at.astimezone(UTC).strftime(_TIME),
                checkpoint.key_id,
                checkpoint.note,
                checkpoint.signature,
            ),
        )


def _parsed(rows: list[tuple[Any, ...]]) -> list[Checkpoint]:
    return [Checkpoint.parse(str(note), bytes(signature)) for note, signature in rows]


def latest(store: IntegrityStore) -> Checkpoint | None:
    found = _parsed(
        store.query(
            "SELECT note, signature FROM {integrity_checkpoints} ORDER BY tree_size DESC LIMIT 1"
        )
    )
    return found[0] if found else None


def of_size(store: IntegrityStore, tree_size: int) -> Checkpoint | None:
    found = _parsed(
        store.query(
            "SELECT note, signature FROM {integrity_checkpoints} WHERE tree_size = ?",
            (tree_size,),
        )
    )
    return found[0] if found else None


def covering(store: IntegrityStore, tree_size: int) -> Checkpoint | None:
    """The smallest checkpoint whose tree holds at least ``tree_size`` leaves."""
    found = _parsed(
        store.query(
            "SELECT note, signature FROM {integrity_checkpoints} WHERE tree_size >= ? "
            "ORDER BY tree_size LIMIT 1",
            (tree_size,),
        )
    )
    return found[0] if found else None


def every(store: IntegrityStore) -> list[tuple[int, str, bytes]]:
    """``(tree_size, note, signature)`` of every stored checkpoint, smallest first, unparsed
    (the self-check reports a damaged one instead of failing on it)."""
    return [
        (int(size), str(note), bytes(signature))
        for size, note, signature in store.query(
            "SELECT tree_size, note, signature FROM {integrity_checkpoints} ORDER BY tree_size"
        )
    ]
