"""Tampering, on SQLite and PostgreSQL: a changed byte, a deleted row, a forged row, two rows
swapped, a truncated tail. Each is named by its exact position, both by the self-check of
the stored log and by scripts/verify (run as an auditor would: isolated, outside the
repository) on an export bundle tampered with the same way."""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from commands.synthetic import generate
from commands.tokens import TokenRequest, issue_token
from ledger.application import Ledger
from ledger.domain.tokens import Role
from ledger.integrity.leaves import leaf_hash
from ledger.integrity.selection import Subject
from ledger.integrity.service import Integrity
from ledger.integrity.tree import STRIDE, Frontier
from ledger.settings import Settings
from tests.integration.integrity_support import (
    OPERATOR,
    Attacker,
    keyed,
    sealed_and_signed,
    verify_isolated,
)

COC = "MO-606"


@dataclass
class Scene:
    integrity: Integrity
    attacker: Attacker
    bundle: dict[str, Any]
    gap: int  # a position no event holds (a failed write's), inside the sealed range

    @property
    def events(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self.bundle["events"]
        return events

    def tenant_event(self, share: float) -> dict[str, Any]:
        """An event of the CoC about ``share`` of the way through the bundle."""
        found = [e for e in self.events if f'"coc":"{COC}"' in e["state"]]
        return found[int(share * (len(found) - 1))]


@pytest.fixture
def scene(ledger: Ledger, settings: Settings, tmp_path: Path) -> Scene:
    generate(ledger, tier="sample", seed=11)
    # a gap inside the log: PostgreSQL leaves one where an insert rolls back; SQLite never
    # does, so the stand-in is a row removed before sealing (a token's, exported by no one)
    request = TokenRequest(coc=COC, subject="svc", role=Role.SERVICE)
    gap = issue_token(ledger, request, OPERATOR).info
    issue_token(ledger, request, OPERATOR)
    key_settings = keyed(settings, tmp_path / "signing-key.pem")
    integrity = Integrity(ledger, key_settings)
    attacker = Attacker(integrity.store)
    gap_position = ledger.positions.of_entity(gap.token_id)[1]
    attacker.delete(gap_position)
    integrity = sealed_and_signed(ledger, key_settings)
    bundle = integrity.export(Subject("coc", COC))
    assert integrity.selfcheck().ok
    return Scene(integrity, attacker, bundle, gap_position)


def verify(scene: Scene, bundle: dict[str, Any], tmp_path: Path) -> tuple[int, str]:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    done = verify_isolated(path, cwd=tmp_path)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout


def selfcheck_names(scene: Scene, position: int, reason: str) -> None:
    report = scene.integrity.selfcheck()
    assert report.first_mismatch is not None
    assert report.first_mismatch.position == position
    assert reason in report.first_mismatch.reason


def verify_names(scene: Scene, bundle: dict[str, Any], tmp_path: Path, expected: str) -> None:
    status, out = verify(scene, bundle, tmp_path)
    assert status == 1, out
    assert out.startswith(f"NOT VERIFIED: {expected}"), out


def test_the_untouched_bundle_verifies(scene: Scene, tmp_path: Path) -> None:
    status, out = verify(scene, scene.bundle, tmp_path)
    assert status == 0
    assert out.startswith("VERIFIED: ")


def test_one_changed_byte_is_named(scene: Scene, tmp_path: Path) -> None:
    event = scene.tenant_event(0.5)
    position, leaf = event["position"], event["leaf_index"]
    scene.attacker.change_one_byte(position)
    selfcheck_names(scene, position, "not the one sealed here")
    tampered = copy.deepcopy(scene.bundle)
    target = next(e for e in tampered["events"] if e["position"] == position)
    target["state"] = target["state"].replace('"coc":"MO-606"', '"coc":"MO-607"', 1)
    verify_names(scene, tampered, tmp_path, f"position {position}, leaf {leaf}: the event does")


def test_a_deleted_row_is_named(scene: Scene, tmp_path: Path) -> None:
    position = scene.tenant_event(0.3)["position"]
    scene.attacker.delete(position)
    selfcheck_names(scene, position, "sealed event is missing from the log")
    tampered = copy.deepcopy(scene.bundle)
    tampered["events"] = [e for e in tampered["events"] if e["position"] != position]
    verify_names(scene, tampered, tmp_path, f"position {position}: listed in the signed export")


def test_a_forged_row_is_named(scene: Scene, tmp_path: Path) -> None:
    like = scene.tenant_event(0.7)
    scene.attacker.insert_forged(scene.gap, like=like["position"])
    selfcheck_names(scene, scene.gap, "never sealed")
    tampered = copy.deepcopy(scene.bundle)
    forged = {**copy.deepcopy(like), "position": scene.gap, "originator_version": 1}
    tampered["events"].append(forged)
    verify_names(scene, tampered, tmp_path, f"position {scene.gap}: not listed in the signed")


def test_two_swapped_rows_are_named_by_the_first(scene: Scene, tmp_path: Path) -> None:
    first, second = scene.tenant_event(0.4), scene.tenant_event(0.6)
    scene.attacker.swap(first["position"], second["position"])
    selfcheck_names(scene, first["position"], "not the one sealed here")
    tampered = copy.deepcopy(scene.bundle)
    a, b = (
        next(e for e in tampered["events"] if e["position"] == x["position"])
        for x in (first, second)
    )
    for name in ("originator_id", "originator_version", "topic", "state"):
        a[name], b[name] = b[name], a[name]
    verify_names(scene, tampered, tmp_path, f"position {first['position']}, leaf")


def test_a_truncated_tail_is_named_by_its_first_missing_position(
    scene: Scene, tmp_path: Path
) -> None:
    cut = scene.tenant_event(0.9)["position"]
    scene.attacker.truncate_from(cut)
    selfcheck_names(scene, cut, "sealed event is missing from the log")
    tampered = copy.deepcopy(scene.bundle)
    tampered["events"] = [e for e in tampered["events"] if e["position"] < cut]
    verify_names(scene, tampered, tmp_path, f"position {cut}: listed in the signed export")


def test_a_changed_proof_hash_is_named_by_the_first_event_that_uses_it(
    scene: Scene, tmp_path: Path
) -> None:
    tampered = copy.deepcopy(scene.bundle)
    index = len(tampered["hashes"]) // 2
    tampered["hashes"][index] = base64.b64encode(b"\x00" * 32).decode()
    first = min(e["position"] for e in tampered["events"] if index in e["proof"])
    verify_names(scene, tampered, tmp_path, f"position {first}, leaf")


def test_an_altered_statement_or_checkpoint_is_refused(scene: Scene, tmp_path: Path) -> None:
    statement = copy.deepcopy(scene.bundle)
    statement["statement"] = statement["statement"].replace("positions: ", "positions: 0,")
    verify_names(scene, statement, tmp_path, "the signature of the export statement")
    note = copy.deepcopy(scene.bundle)
    size = note["checkpoint"]["tree_size"]
    note["checkpoint"]["note"] = note["checkpoint"]["note"].replace(
        f"tree-size: {size}", f"tree-size: {size + 1}"
    )
    verify_names(scene, note, tmp_path, "the signature of the checkpoint does not verify")


def test_rows_rewritten_with_their_leaves_and_nodes_are_caught_by_the_checkpoint(
    scene: Scene,
) -> None:
    """An attacker who also rewrites the sealed leaf and every stored node cannot sign a new
    checkpoint: the signed root bounds the damage to the leaves it covers."""
    event = scene.tenant_event(0.5)
    store = scene.integrity.store
    scene.attacker.change_one_byte(event["position"])
    (row,) = store.rows_at([event["position"]])
    frontier, nodes = Frontier(), []
    with store.transaction() as cursor:
        cursor.execute(
            store.sql("UPDATE {integrity_leaves} SET leaf_hash = ? WHERE position = ?"),
            (leaf_hash(row), row.position),
        )
    for _, _, digest in store.leaves(0, 10**9):
        nodes += [n for n in frontier.append(digest) if n[0] % STRIDE == 0]
    with store.transaction() as cursor:
        cursor.execute(store.sql("DELETE FROM {integrity_nodes}"))
        cursor.executemany(store.sql("INSERT INTO {integrity_nodes} VALUES (?, ?, ?)"), nodes)
    report = scene.integrity.selfcheck()
    assert report.first_mismatch is not None
    checkpoint = scene.integrity.checkpoint()
    assert report.first_mismatch.position == checkpoint.last_position
    assert f"rewritten somewhere in leaves 0 to {checkpoint.tree_size - 1}" in (
        report.first_mismatch.reason
    )


def test_a_damaged_stored_node_is_named(scene: Scene) -> None:
    store = scene.integrity.store
    with store.transaction() as cursor:
        cursor.execute(
            store.sql("UPDATE {integrity_nodes} SET hash = ? WHERE level = 4 AND node_index = 3"),
            (b"\x00" * 32,),
        )
    report = scene.integrity.selfcheck()
    assert report.first_mismatch is not None
    assert report.first_mismatch.leaf_index == 4 * 16 - 1  # the last leaf below it
    assert "the stored node (level 4, index 3) is not the hash" in report.first_mismatch.reason


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"not json", "unusable input"),
        (b'{"format": "something else"}', "not a CoC Ledger document"),
        (b'{"format": "coc-ledger-bundle v1"}', "missing 'keys'"),
    ],
)
def test_unusable_input_exits_2(tmp_path: Path, content: bytes, says: str) -> None:
    path = tmp_path / "input.json"
    path.write_bytes(content)
    done = verify_isolated(path, cwd=tmp_path)
    assert done.returncode == 2
    assert says in done.stderr
    missing = verify_isolated(tmp_path / "absent.json", cwd=tmp_path)
    assert missing.returncode == 2
