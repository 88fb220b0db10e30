"""A command with an expected entity version (HTTP If-Match) runs only on that version."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from commands.base import Command, IfMatch, Receipt
from commands.end_users import RecordLoginActivity, RegisterEndUser
from commands.registry import run
from ledger.application import Ledger
from ledger.clock import FixedClock
from ledger.errors import VersionMismatch
from ledger.settings import Settings
from tests.conftest import CALLER, START
from tests.integration.builders import LONE_COC, login_summary, register_lone_user

COC = LONE_COC


@pytest.fixture
def registered(do: Callable[[Command], Receipt]) -> Receipt:
    return register_lone_user(do)


def logins(n: int, key: str | None = None) -> RecordLoginActivity:
    return login_summary(n, key=key)


def test_a_command_on_the_expected_version_is_written(ledger: Ledger, registered: Receipt) -> None:
    receipt = run(ledger, logins(1), CALLER, if_match=IfMatch(versions=frozenset({1})))

    assert [(e.entity_id, e.version) for e in receipt.events] == [(registered.entity_id, 2)]


def test_a_command_on_another_version_is_refused_with_the_current_one(
    ledger: Ledger, registered: Receipt
) -> None:
    run(ledger, logins(1), CALLER)
    head = ledger.head()

    with pytest.raises(VersionMismatch) as err:
        run(ledger, logins(2), CALLER, if_match=IfMatch(versions=frozenset({1})))

    assert err.value.current_version == 2
    assert err.value.details["entity_id"] == str(registered.entity_id)
    assert ledger.head() == head


def test_any_version_accepts_an_existing_entity_but_not_a_new_one(
    ledger: Ledger, do: Callable[[Command], Receipt], registered: Receipt
) -> None:
    run(ledger, logins(1), CALLER, if_match=IfMatch())

    with pytest.raises(VersionMismatch) as err:
        run(
            ledger,
            RegisterEndUser(coc=COC, user_ref="U2", agency_ref="AG1"),
            CALLER,
            if_match=IfMatch(),
        )
    assert err.value.current_version == 0


def test_a_replay_returns_its_receipt_although_the_entity_moved_on(
    ledger: Ledger, registered: Receipt
) -> None:
    first = run(ledger, logins(1, key="k-1"), CALLER, if_match=IfMatch(versions=frozenset({1})))

    again = run(ledger, logins(1, key="k-1"), CALLER, if_match=IfMatch(versions=frozenset({1})))

    assert again.replayed
    assert again.position == first.position


def test_of_two_concurrent_writers_expecting_the_same_version_one_wins(
    settings: Settings, ledger: Ledger, registered: Receipt
) -> None:
    other = Ledger(settings, clock=FixedClock(START))
    outcomes: list[str] = []

    def attempt(app: Ledger, n: int) -> None:
        try:
            run(app, logins(n), CALLER, if_match=IfMatch(versions=frozenset({1})))
            outcomes.append("written")
        except VersionMismatch as err:
            outcomes.append(f"mismatch at {err.current_version}")

    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(attempt, [ledger, other], [1, 2]))
    finally:
        other.close()

    assert sorted(outcomes) == ["mismatch at 2", "written"]
