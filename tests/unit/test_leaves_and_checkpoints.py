"""The leaf encoding of a stored row and the signed checkpoint note: the project's code and
the offline verifier's own copy agree, and every byte counts."""

from __future__ import annotations

import base64
import hashlib
import struct
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import VerificationFailed
from ledger.integrity import keys
from ledger.integrity.checkpoints import Checkpoint
from ledger.integrity.leaves import StoredRow, leaf_bytes, leaf_hash
from ledger.integrity.scan import leaf_hashes
from tests.unit.test_merkle import VERIFY

rows = st.builds(
    StoredRow,
    position=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    originator_id=st.text(max_size=40),
    originator_version=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    topic=st.text(max_size=80),
    state=st.binary(max_size=600),
)


@given(row=rows)
def test_the_verifier_hashes_a_row_as_the_ledger_does(row: StoredRow) -> None:
    assert leaf_hash(row) == VERIFY.leaf_hash(*row)
    assert leaf_hash(row) == hashlib.sha256(b"\x00" + leaf_bytes(row)).digest()


@given(row=rows, data=st.data())
def test_changing_any_byte_of_a_row_changes_its_leaf(row: StoredRow, data: st.DataObject) -> None:
    encoded = bytearray(leaf_bytes(row))
    at = data.draw(st.integers(min_value=0, max_value=len(encoded) - 1))
    encoded[at] ^= 1 << data.draw(st.integers(min_value=0, max_value=7))
    assert hashlib.sha256(b"\x00" + bytes(encoded)).digest() != leaf_hash(row)


@given(batch=st.lists(rows, max_size=12))
def test_the_self_checks_unrolled_hashing_equals_the_leaf_hash(batch: list[StoredRow]) -> None:
    assert leaf_hashes([tuple(row) for row in batch]) == [leaf_hash(row) for row in batch]  # type: ignore[misc]


def test_a_row_of_the_wrong_types_hashes_to_nothing_a_leaf_could_be() -> None:
    odd = [(1, None, 1, "t", b"s"), (2, "x", 1, "t", "text, not bytes")]
    assert leaf_hashes(odd) == [b"", b""]  # type: ignore[arg-type]


def test_the_leaf_layout_is_the_documented_one() -> None:
    row = StoredRow(7, "ab" * 16, 3, "m:T", b'{"a":1}')
    expected = (
        b"\x01"
        + struct.pack(">qq", 7, 3)
        + struct.pack(">H", 32)
        + b"ab" * 16
        + struct.pack(">I", 3)
        + b"m:T"
        + struct.pack(">I", 7)
        + b'{"a":1}'
    )
    assert leaf_bytes(row) == expected


@given(text=st.text(min_size=2, max_size=30), data=st.data())
def test_moving_bytes_between_topic_and_state_changes_the_leaf(
    text: str, data: st.DataObject
) -> None:
    k = data.draw(st.integers(min_value=1, max_value=len(text) - 1))
    a = StoredRow(1, "x", 1, text[:k], text[k:].encode("utf-8", "surrogatepass"))
    b = StoredRow(1, "x", 1, text[: k - 1], text[k - 1 :].encode("utf-8", "surrogatepass"))
    assert leaf_bytes(a) != leaf_bytes(b)


def checkpoint(key: keys.SigningKey) -> Checkpoint:
    at = datetime(2026, 3, 2, 15, 0, 0, 123456, tzinfo=UTC)
    return Checkpoint.sign(key, "coc-ledger", 42, 45, hashlib.sha256(b"root").digest(), at)


def test_a_signed_checkpoint_parses_back_and_verifies_only_with_its_key() -> None:
    key, other = keys.generate(), keys.generate()
    signed = checkpoint(key)
    parsed = Checkpoint.parse(signed.note, signed.signature)
    assert parsed == signed
    assert parsed.verifies_with(key.public_key)
    assert not parsed.verifies_with(other.public_key)
    assert signed.note.startswith("coc-ledger checkpoint v1\norigin: coc-ledger\ntree-size: 42\n")


def test_any_change_of_the_note_breaks_its_signature() -> None:
    key = keys.generate()
    signed = checkpoint(key)
    forged = signed.note.replace("tree-size: 42", "tree-size: 43")
    assert not keys.verify_signature(key.public_key, signed.signature, forged.encode())


@pytest.mark.parametrize(
    "note",
    [
        "coc-ledger checkpoint v2\n",
        "coc-ledger checkpoint v1\norigin: x\n",
        "coc-ledger checkpoint v1\norigin: x\ntree-size: 1\nlast-position: 1\nroot-hash: !!\n"
        "signed-at: 2026-01-01T00:00:00.000000Z\nkey-id: k\n",
    ],
)
def test_a_note_that_is_no_checkpoint_is_refused(note: str) -> None:
    with pytest.raises(VerificationFailed):
        Checkpoint.parse(note, b"")


def test_the_verifier_reads_the_checkpoint_the_ledger_signs() -> None:
    key = keys.generate()
    signed = checkpoint(key)
    doc = {
        "keys": [{"key_id": key.key_id, "public_key": base64.b64encode(key.public_key).decode()}]
    }
    read = VERIFY.Checkpoint(
        {"note": signed.note, "signature": base64.b64encode(signed.signature).decode()},
        "checkpoint",
        VERIFY.Keys(doc, set()),
    )
    assert (read.tree_size, read.last_position, read.root, read.key_id) == (
        42,
        45,
        signed.root_hash,
        key.key_id,
    )


def test_a_key_file_is_private_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    key = keys.generate()
    keys.write_new(key, path)
    assert path.stat().st_mode & 0o777 == 0o600
    loaded = keys.load(path)
    assert loaded is not None
    assert loaded.key_id == key.key_id
    assert repr(loaded) == f"SigningKey(key_id='{key.key_id}')"  # nothing secret in logs
    with pytest.raises(FileExistsError):
        keys.write_new(keys.generate(), path)
    assert keys.key_id_of(key.public_key) == hashlib.sha256(key.public_key).hexdigest()[:16]
