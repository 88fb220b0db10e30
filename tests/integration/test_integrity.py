"""The tamper-evident tree on SQLite and PostgreSQL: sealing in log order, resuming, racing
sealers, signing only with the key in force, rotation, proofs and exports that verify
offline."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from eventsourcing.persistence import IntegrityError

from commands.signing_keys import init_key, rotate_key
from commands.synthetic import generate
from commands.tokens import TokenRequest, issue_token
from ledger.application import Ledger
from ledger.domain.base import EventMeta, Source
from ledger.domain.organisations import CoC
from ledger.domain.tokens import Role
from ledger.domain.vocabulary import Process
from ledger.errors import NotFound, RuleViolation, SigningUnavailable
from ledger.ids import entity_id
from ledger.integrity import checkpoints, keys
from ledger.integrity.leaves import leaf_hash
from ledger.integrity.sealer import Sealer, SealerStuck
from ledger.integrity.selection import Subject
from ledger.integrity.service import Integrity
from ledger.integrity.store import IntegrityStore
from ledger.integrity.tree import root_of
from ledger.settings import Settings
from tests.integration.integrity_support import OPERATOR, keyed, load_verifier, sealed_and_signed

VERIFY = load_verifier()


@pytest.fixture
def keyed_settings(settings: Settings, tmp_path: Path) -> Settings:
    return keyed(settings, tmp_path / "keys" / "signing-key.pem")


@pytest.fixture
def log(ledger: Ledger) -> Ledger:
    generate(ledger, tier="sample", seed=3)
    return ledger


def every_row(store: IntegrityStore) -> list[Any]:
    return store.rows_after(None, 10**9)


def test_the_tree_holds_every_stored_event_in_log_order_and_matches_a_recomputation(
    log: Ledger, keyed_settings: Settings
) -> None:
    integrity = Integrity(log, keyed_settings)
    sealed = integrity.seal()
    rows = every_row(integrity.store)
    leaves = integrity.store.leaves(0, 10**9)
    assert sealed == len(rows) == len(leaves) > 1000
    assert [position for _, position, _ in leaves] == [row.position for row in rows]
    assert [index for index, _, _ in leaves] == list(range(len(rows)))
    assert [digest for _, _, digest in leaves] == [leaf_hash(row) for row in rows]
    assert integrity.sealer.state.frontier.root() == root_of(leaf_hash(r) for r in rows)
    assert integrity.store.sealed_position() == rows[-1].position
    assert integrity.seal() == 0  # nothing new: nothing sealed twice


def test_a_sealer_resumes_from_its_tables_and_racing_sealers_build_one_tree(
    log: Ledger, keyed_settings: Settings
) -> None:
    store = IntegrityStore(log)
    assert store.tree_size() == 0  # nothing sealed yet
    first = Sealer(log, store, "test")
    assert first.step(batch=500) == 500
    second = Sealer(log, IntegrityStore(log), "test")  # a second process, started now
    assert second.state.size == 500
    assert second.state.frontier.root() == first.state.frontier.root()
    assert second.step(batch=700) == 700
    assert first.step(batch=300) == 0  # raced: its write collided and it reloads
    assert first.catch_up(batch=256) > 0
    assert second.catch_up() == 0
    rows = every_row(store)
    assert store.tree_size() == len(rows)
    assert second.state.frontier.root() == root_of(leaf_hash(r) for r in rows)
    assert first.state.frontier.root() == second.state.frontier.root()


def test_positions_left_unused_by_failed_writes_are_passed_over(
    ledger: Ledger, keyed_settings: Settings
) -> None:
    """A rolled-back insert leaves a gap on PostgreSQL: leaf indexes stay dense while
    positions skip it (SQLite hands out positions without gaps)."""
    generate(ledger, tier="small", seed=5)
    duplicate = CoC.register("MO-606", "again", Process.MISSOURI_BOS, _meta())
    with pytest.raises(IntegrityError):
        ledger.save_all([duplicate])
    issue_token(ledger, TokenRequest(coc="MO-606", subject="svc", role=Role.SERVICE), OPERATOR)
    integrity = Integrity(ledger, keyed_settings)
    integrity.seal()
    leaves = integrity.store.leaves(0, 10**9)
    positions = [position for _, position, _ in leaves]
    assert positions == [row.position for row in every_row(integrity.store)]
    gaps = [index for index, position, _ in leaves if position != index + 1]
    assert bool(gaps) == integrity.store.postgres
    assert integrity.selfcheck().ok


def _meta() -> EventMeta:
    now = datetime(2026, 3, 2, tzinfo=UTC)
    return EventMeta(
        coc="MO-606",
        actor="tester",
        source=Source.CLI,
        request_id="r",
        effective_at=now,
        timestamp=now,
    )


def test_a_checkpoint_is_signed_only_with_the_key_in_force(
    log: Ledger, keyed_settings: Settings
) -> None:
    integrity = Integrity(log, keyed_settings)
    integrity.seal()
    assert integrity.checkpoint_if_due() is None  # no key file, no key in force
    stray = keys.generate()
    keys.write_new(stray, keyed_settings.signing_key_path)
    assert integrity.checkpoint_if_due() is None  # a key file the ledger does not record
    with pytest.raises(SigningUnavailable, match="key in force is none"):
        integrity.fresh_checkpoint(stray)
    record = init_key(log, keyed_settings.signing_key_path, OPERATOR)  # takes the file's key
    assert record.key_id == stray.key_id
    assert integrity.checkpoint_if_due() is None  # its event is not sealed yet
    integrity.seal()
    signed = integrity.checkpoint_if_due()
    assert signed is not None
    assert signed.key_id == stray.key_id
    assert signed.tree_size == integrity.store.tree_size()
    assert signed.verifies_with(stray.public_key)
    assert integrity.checkpoint_if_due() is None  # the tree did not grow
    with pytest.raises(RuleViolation, match="already in force"):
        init_key(log, keyed_settings.signing_key_path.with_name("other.pem"), OPERATOR)
    assert init_key(log, keyed_settings.signing_key_path, OPERATOR) == record  # no-op


def test_after_a_rotation_older_checkpoints_verify_with_the_key_that_signed_them(
    log: Ledger, keyed_settings: Settings
) -> None:
    integrity = sealed_and_signed(log, keyed_settings)
    old = integrity.checkpoint()
    path = keyed_settings.signing_key_path
    rotated = rotate_key(log, path, "yearly rotation", OPERATOR)
    assert rotated.previous_key_id == old.key_id
    assert path.with_name(f"{path.name}.retired-{old.key_id}").exists()
    assert not path.with_name(path.name + ".next").exists()
    issue_token(log, TokenRequest(coc="WI-500", subject="svc", role=Role.SERVICE), OPERATOR)
    key = integrity.signing_key()
    assert key is not None
    assert key.key_id == rotated.key_id
    new = integrity.fresh_checkpoint(key)
    assert (new.key_id, new.tree_size > old.tree_size) == (rotated.key_id, True)
    records = {k.key_id: k for k in integrity.key_records()}
    assert old.verifies_with(records[old.key_id].public_key)
    assert not old.verifies_with(records[new.key_id].public_key)
    assert integrity.selfcheck().ok
    document = integrity.consistency(old.tree_size, None)
    assert VERIFY.verify_consistency(document, {old.key_id, new.key_id})
    with pytest.raises(VERIFY.Failed, match="not by a key you trust"):
        VERIFY.verify_consistency(document, {old.key_id})


def test_an_event_proof_verifies_offline_and_serves_only_its_own_coc(
    log: Ledger, keyed_settings: Settings
) -> None:
    integrity = sealed_and_signed(log, keyed_settings)
    rows = every_row(integrity.store)
    position = rows[len(rows) // 2].position
    coc = _coc_of(integrity, position)
    document = integrity.inclusion(coc, position)
    assert document["event"]["position"] == position
    assert "is in the tree" in VERIFY.verify_inclusion(document, set())
    others = {"MO-606", "CA-600", "IL-510", "WI-500"} - {coc}
    messages = set()
    for other in others:
        with pytest.raises(NotFound) as refused:
            integrity.inclusion(other, position)
        messages.add(refused.value.message.replace(other, "X"))
    with pytest.raises(NotFound) as nowhere:
        integrity.inclusion(coc, 10**9)
    assert messages == {nowhere.value.message.replace(coc, "X").replace(str(10**9), str(position))}
    key_event = integrity.key_records()[0].position  # the operator's: no tenant's
    with pytest.raises(NotFound):
        integrity.inclusion(coc, key_event)


def _coc_of(integrity: Integrity, position: int) -> str:
    (row,) = integrity.store.rows_at([position])
    coc: str = orjson.loads(row.state)["coc"]
    return coc


def test_exports_of_a_coc_an_agency_and_a_user_verify_offline(
    log: Ledger, keyed_settings: Settings
) -> None:
    integrity = sealed_and_signed(log, keyed_settings)
    user_id = _first_created(integrity, "EndUser.Registered", "MO-606")
    user_ref, agency_ref = user_id["ref"], user_id["agency_ref"]
    bundles = {
        "coc": integrity.export(Subject("coc", "MO-606")),
        "agency": integrity.export(Subject("agency", "MO-606", agency_ref)),
        "user": integrity.export(Subject("user", "MO-606", user_ref)),
    }
    for bundle in bundles.values():
        assert "events" in VERIFY.verify_bundle(bundle, {integrity.key_records()[0].key_id})
    ring = integrity.key_records()[0].position
    user_positions = {e["position"] for e in bundles["user"]["events"]} - {ring}
    stored = integrity.ledger.positions.of_entity(entity_id("user", "MO-606", user_ref))
    assert user_positions == set(stored.values())
    agency_positions = {e["position"] for e in bundles["agency"]["events"]}
    coc_positions = {e["position"] for e in bundles["coc"]["events"]}
    assert user_positions < agency_positions < coc_positions
    assert all(_coc_of(integrity, p) == "MO-606" for p in coc_positions - {ring})
    mo_rows = [r for r in every_row(integrity.store) if b'"coc":"MO-606"' in r.state]
    assert coc_positions - {ring} == {r.position for r in mo_rows}
    with pytest.raises(NotFound):
        integrity.export(Subject("user", "MO-606", "nobody"))
    with pytest.raises(NotFound):
        integrity.export(Subject("agency", "ZZ-999", agency_ref))


def _first_created(integrity: Integrity, topic_end: str, coc: str) -> dict[str, Any]:
    for row in every_row(integrity.store):
        state = orjson.loads(row.state)
        if row.topic.endswith(topic_end) and state["coc"] == coc:
            found: dict[str, Any] = state
            return found
    raise AssertionError(f"no {topic_end} in {coc}")


def test_an_export_needs_the_key_in_force(log: Ledger, keyed_settings: Settings) -> None:
    integrity = Integrity(log, keyed_settings)
    with pytest.raises(SigningUnavailable, match="holds none"):
        integrity.export(Subject("coc", "MO-606"))
    assert checkpoints.latest(integrity.store) is None


def test_a_sealer_whose_tables_disagree_with_its_tracking_stops_and_says_so(
    log: Ledger, keyed_settings: Settings
) -> None:
    integrity = Integrity(log, keyed_settings)
    integrity.seal()
    store = integrity.store
    with store.transaction() as cursor:  # the last leaf removed behind the sealer's back
        cursor.execute(
            store.sql("DELETE FROM {integrity_leaves} WHERE leaf_index = ?"),
            (store.tree_size() - 1,),
        )
    with pytest.raises(SealerStuck, match="collided while the tree stayed at"):
        Sealer(log, IntegrityStore(log), "test").catch_up()
    report = integrity.selfcheck()
    assert report.first_mismatch is not None
    assert report.first_mismatch.position == store.sealed_position()
    assert "sealed leaves were removed" in report.first_mismatch.reason
