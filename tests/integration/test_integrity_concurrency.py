"""Concurrent writers while the sealer follows the log (on PostgreSQL, inserts from several
threads commit in their own order and collisions roll back, leaving gaps): the tree it leaves
holds every stored event once, in log order, verifies and equals a recomputation."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

from commands.end_users import RecordCourseCompletion, RegisterEndUser
from commands.registry import run
from ledger.application import Ledger
from ledger.clock import FixedClock
from ledger.integrity import checkpoints
from ledger.integrity.leaves import leaf_hash
from ledger.integrity.sealer import Sealer
from ledger.integrity.store import IntegrityStore
from ledger.integrity.tree import root_of
from ledger.settings import Settings
from tests.conftest import CALLER
from tests.integration.builders import register_agency, wisconsin
from tests.integration.integrity_support import keyed, load_verifier, sealed_and_signed

VERIFY = load_verifier()
WRITERS = 4
USERS_EACH = 8


def test_concurrent_writers_leave_a_tree_that_verifies_and_matches_a_recomputation(
    ledger: Ledger, settings: Settings, clock: FixedClock, tmp_path: Path
) -> None:
    do = lambda command: run(ledger, command, CALLER)  # noqa: E731
    w = wisconsin(do)
    for n in range(WRITERS):
        register_agency(do, w.coc, f"wi-agency-{n}")
    integrity = sealed_and_signed(ledger, keyed(settings, tmp_path / "key.pem"))
    initial = integrity.checkpoint()
    # a second sealer (another process's) races the first one while the writers write
    rival = Sealer(ledger, IntegrityStore(ledger), integrity.settings.integrity_origin)
    done = threading.Event()
    failures: list[BaseException] = []
    signed: list[int] = []

    def writer(n: int) -> None:
        try:
            for i in range(USERS_EACH):
                ref = f"wi-c{n}-{i}"
                do(RegisterEndUser(coc=w.coc, user_ref=ref, agency_ref=f"wi-agency-{n}"))
                do(
                    RecordCourseCompletion(
                        coc=w.coc,
                        user_ref=ref,
                        course_code="WI-CE-CORE",
                        provider="LMS",
                        effective_at=clock.now() - timedelta(days=i),
                    )
                )
        except BaseException as err:  # reported below
            failures.append(err)

    def seal(sealer: Sealer, sign: bool) -> None:
        try:
            while not done.is_set():
                sealer.catch_up(batch=7)
                if sign:
                    key = integrity.signing_key()
                    checkpoint = integrity.sealer.checkpoint(key, clock.now())
                    if checkpoint is not None:
                        signed.append(checkpoint.tree_size)
        except BaseException as err:
            failures.append(err)

    sealers = [
        threading.Thread(target=seal, args=(integrity.sealer, True)),
        threading.Thread(target=seal, args=(rival, False)),
    ]
    writers = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in sealers + writers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    for thread in sealers:
        thread.join()
    assert failures == []

    integrity.seal()
    rows = integrity.store.rows_after(None, 10**9)
    leaves = integrity.store.leaves(0, 10**9)
    assert [position for _, position, _ in leaves] == [row.position for row in rows]
    assert len(rows) > WRITERS * USERS_EACH * 2
    assert integrity.sealer.state.frontier.root() == root_of(leaf_hash(row) for row in rows)
    key = integrity.signing_key()
    assert key is not None
    integrity.fresh_checkpoint(key)
    report = integrity.selfcheck()
    assert report.ok, report.first_mismatch
    assert report.checkpoints_checked == len(checkpoints.every(integrity.store)) > len(signed) > 0
    assert report.events_checked == len(rows)
    document = integrity.consistency(initial.tree_size, None)
    assert "is a prefix of" in VERIFY.verify_consistency(document, set())
