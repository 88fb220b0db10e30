"""scripts/verify.py on a bundle built in memory (the ledger's own document code, no store):
it verifies, and any change to any part of the file either still verifies (a change that
alters nothing signed or proven, e.g. a note for readers) or is refused with status 1 or 2,
never with a crash."""

from __future__ import annotations

import copy
import hashlib
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.integrity import documents, keys
from ledger.integrity.checkpoints import Checkpoint
from ledger.integrity.keyring import KeyRecord
from ledger.integrity.leaves import StoredRow, leaf_hash
from ledger.integrity.proofs import inclusion_ranges
from ledger.integrity.tree import range_hashes, root_of
from tests.unit.test_merkle import VERIFY, StoredTree

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
RING = hashlib.sha256(b"ring").hexdigest()[:32]


def build_bundle() -> dict[str, Any]:
    key = keys.generate()
    introduced = json.dumps(
        {"key_id": key.key_id, "public_key": key.public_key_b64, "timestamp": NOW.isoformat()}
    )
    rows = [StoredRow(1, RING, 1, "m:SigningKeys.Introduced", introduced.encode())]
    for n in range(30):  # three entities, ten versions each, at positions with gaps
        entity = hashlib.sha256(bytes([n % 3])).hexdigest()[:32]
        state = json.dumps({"coc": "MO-606", "n": n}).encode()
        rows.append(StoredRow(3 + 2 * n, entity, n // 3 + 1, "m:E.Happened", state))
    hashes = [leaf_hash(r) for r in rows]
    tree = StoredTree(hashes)
    size = len(rows)
    checkpoint = Checkpoint.sign(key, "test", size, rows[-1].position, root_of(hashes), NOW)
    with_proofs = [
        (row, i, range_hashes(inclusion_ranges(i, size), tree.fetch)) for i, row in enumerate(rows)
    ]
    statement = documents.statement("coc MO-606", checkpoint, NOW, [r.position for r in rows])
    record = KeyRecord(key.key_id, key.public_key, 1, NOW, None, None)
    return documents.bundle(
        {"kind": "coc", "coc": "MO-606", "ref": "-"},
        checkpoint,
        [record],
        with_proofs,
        statement,
        key.sign(statement.encode()),
        0,
    )


BUNDLE = build_bundle()
# copies of signed values shown for readers: checked when present, not needed
READABLE = {"subject", "origin", "tree_size", "last_position", "root_hash", "signed_at"}
READABLE |= {"key_id", "algorithm", "recorded_at", "previous_key_id"}


def run(bundle: object) -> int:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "b.json"
        path.write_text(json.dumps(bundle))
        status: int = VERIFY.main([str(path)])
        return status


def test_a_bundle_built_by_the_ledger_verifies(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(BUNDLE) == 0
    assert capsys.readouterr().out.startswith("VERIFIED: 31 events (coc MO-606) of 4 entities")


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            found += paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:4]):
            found += paths(v, (*prefix, i))
    return found


PATHS = paths(BUNDLE)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=5,
)
# shown for readers, signed nowhere: a note on the encoding, and how many events of the
# history came after the checkpoint (the verifier says so in its module docstring)
UNSIGNED = {("leaf_encoding",), ("events_after_checkpoint",)}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), value=json_values, delete=st.booleans())
def test_any_changed_field_is_refused_or_harmless_never_a_crash(
    path: tuple[Any, ...], value: Any, delete: bool
) -> None:
    bundle = copy.deepcopy(BUNDLE)
    parent = bundle
    for step in path[:-1]:
        parent = parent[step]
    original = parent[path[-1]]
    deleted = delete and isinstance(parent, dict)
    if deleted:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    status = run(bundle)
    assert status in (0, 1, 2)
    changed = original is not None if deleted else value != original  # a null may go
    if status == 0 and changed:  # only what nothing signs or proves may change unnoticed
        assert path[:1] in UNSIGNED or (deleted and path[-1] in READABLE), path


def test_unusable_files_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for content in ("[]", "{}", '{"format": "coc-ledger-bundle v1", "keys": 7}', "\u00ff"):
        path = tmp_path / "x.json"
        path.write_text(content)
        assert VERIFY.main([str(path)]) == 2
    assert "unusable input" in capsys.readouterr().err
