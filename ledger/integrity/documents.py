"""The JSON documents the integrity routes and scripts hand out; each verifies on its own with
``scripts/verify.py`` (no server, no database).

- ``coc-ledger-inclusion v1``: one stored event, its inclusion proof, the checkpoint it leads
  to and the checkpoint's key;
- ``coc-ledger-consistency v1``: two checkpoints, the proof that the older tree is a prefix of
  the newer, and their keys;
- ``coc-ledger-bundle v1``: an export (a CoC's, an agency's or a user's history): the events
  as stored, their proofs (indexes into one shared list of hashes), the checkpoint, the
  signing keys with the events that put them in force, and a signed *export statement* that
  lists every position the export holds (so an event removed from the file is noticed).

Hashes, keys and signatures are base64. An event's state is given as stored: as text when it
is UTF-8 (``state``, and ``state_base64`` null), else as base64 (``state_base64``).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ledger.integrity.checkpoints import Checkpoint
from ledger.integrity.keyring import KeyRecord
from ledger.integrity.leaves import StoredRow

INCLUSION = "coc-ledger-inclusion v1"
CONSISTENCY = "coc-ledger-consistency v1"
BUNDLE = "coc-ledger-bundle v1"
STATEMENT_HEADER = "coc-ledger export v1"
LEAF_ENCODING = (
    "RFC 9162 leaf hash SHA-256(0x00 || leaf), node hash SHA-256(0x01 || left || right); "
    "leaf = 0x01 || int64 position || int64 originator_version || uint16 length || "
    "originator_id (ASCII) || uint32 length || topic (UTF-8) || uint32 length || state "
    "(all integers big-endian)"
)
_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def event_json(row: StoredRow, leaf_index: int, proof: Sequence[object]) -> dict[str, Any]:
    event: dict[str, Any] = {
        "position": row.position,
        "leaf_index": leaf_index,
        "originator_id": row.originator_id,
        "originator_version": row.originator_version,
        "topic": row.topic,
    }
    try:
        event |= {"state": row.state.decode("utf-8"), "state_base64": None}
    except UnicodeDecodeError:
        event |= {"state": None, "state_base64": b64(row.state)}
    event["proof"] = list(proof)
    return event


def key_json(key: KeyRecord) -> dict[str, Any]:
    return {
        "key_id": key.key_id,
        "algorithm": "ed25519",
        "public_key": key.public_key_b64,
        "position": key.position,
        "recorded_at": key.recorded_at.astimezone(UTC).strftime(_TIME),
        "previous_key_id": key.previous_key_id,
    }


def inclusion(
    checkpoint: Checkpoint, key: KeyRecord, row: StoredRow, leaf_index: int, proof: list[bytes]
) -> dict[str, Any]:
    return {
        "format": INCLUSION,
        "checkpoint": checkpoint.as_json(),
        "keys": [key_json(key)],
        "event": event_json(row, leaf_index, [b64(h) for h in proof]),
    }


def consistency(
    first: Checkpoint, second: Checkpoint, keys: list[KeyRecord], proof: list[bytes]
) -> dict[str, Any]:
    return {
        "format": CONSISTENCY,
        "first": first.as_json(),
        "second": second.as_json(),
        "keys": [key_json(k) for k in keys],
        "proof": [b64(h) for h in proof],
    }


def statement(
    subject: str, checkpoint: Checkpoint, exported_at: datetime, positions: Sequence[int]
) -> str:
    """The export statement the operator's key signs (scripts/verify.py reads it back)."""
    lines = [
        STATEMENT_HEADER,
        f"origin: {checkpoint.origin}",
        f"subject: {subject}",
        f"tree-size: {checkpoint.tree_size}",
        f"root-hash: {b64(checkpoint.root_hash)}",
        f"exported-at: {exported_at.astimezone(UTC).strftime(_TIME)}",
        f"events: {len(positions)}",
        "positions: " + ",".join(map(str, positions)),
    ]
    return "\n".join(lines) + "\n"


def bundle(
    subject: dict[str, str],
    checkpoint: Checkpoint,
    keys: list[KeyRecord],
    rows: list[tuple[StoredRow, int, list[bytes]]],
    statement_text: str,
    statement_signature: bytes,
    not_covered: int,
) -> dict[str, Any]:
    """The export document; ``rows`` are (row, leaf index, proof) in log order."""
    index_of: dict[bytes, int] = {}
    hashes: list[str] = []
    events = []
    for row, leaf_index, proof in rows:
        refs = []
        for digest in proof:
            if digest not in index_of:
                index_of[digest] = len(hashes)
                hashes.append(b64(digest))
            refs.append(index_of[digest])
        events.append(event_json(row, leaf_index, refs))
    return {
        "format": BUNDLE,
        "subject": subject,
        "statement": statement_text,
        "statement_signature": b64(statement_signature),
        "checkpoint": checkpoint.as_json(),
        "keys": [key_json(k) for k in keys],
        "leaf_encoding": LEAF_ENCODING,
        "events_after_checkpoint": not_covered,
        "hashes": hashes,
        "events": events,
    }
