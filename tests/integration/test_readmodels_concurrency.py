"""Concurrent writers while a follower follows: it ends equal to a rebuild (no event skipped
when positions commit out of order or leave gaps)."""

from __future__ import annotations

import threading
from datetime import timedelta

from commands.end_users import RecordCourseCompletion, RegisterEndUser
from commands.registry import run
from ledger.application import Ledger
from ledger.clock import FixedClock
from projections.readmodels import generations
from projections.readmodels.db import ReadModelDb
from projections.readmodels.follower import Follower
from tests.conftest import CALLER
from tests.integration.builders import register_agency, wisconsin
from tests.integration.readmodels_support import rebuilt, snapshot

WRITERS = 4
USERS_EACH = 6


def test_a_follower_under_concurrent_writers_ends_equal_to_a_rebuild(
    ledger: Ledger, clock: FixedClock
) -> None:
    do = lambda command: run(ledger, command, CALLER)  # noqa: E731
    w = wisconsin(do)
    for n in range(WRITERS):
        register_agency(do, w.coc, f"wi-agency-{n}")
    db = ReadModelDb(ledger)
    live = generations.ensure_current(db, clock.now())
    follower = Follower(ledger, db, live, clock, batch_size=3)
    done = threading.Event()
    failures: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(USERS_EACH):
                ref = f"wi-c{n}-{i}"
                run(
                    ledger,
                    RegisterEndUser(
                        coc=w.coc,
                        user_ref=ref,
                        agency_ref=f"wi-agency-{n}",
                        person_name="Synthetic Person",
                        email="synthetic@example.org",
                    ),
                    CALLER,
                )
                run(
                    ledger,
                    RecordCourseCompletion(
                        coc=w.coc,
                        user_ref=ref,
                        course_code="WI-CE-CORE",
                        provider="LMS",
                        effective_at=clock.now() - timedelta(days=i),
                    ),
                    CALLER,
                )
        except BaseException as err:  # reported below
            failures.append(err)

    def follow() -> None:
        try:
            while not done.is_set():
                follower.catch_up()
        except BaseException as err:
            failures.append(err)

    following = threading.Thread(target=follow)
    following.start()
    writers = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    following.join()
    assert failures == []
    follower.catch_up()
    assert follower.position == ledger.head()
    assert len(snapshot(db, live)["users"]) == 1 + WRITERS * USERS_EACH
    assert snapshot(db, live) == snapshot(db, rebuilt(ledger, db, clock))
