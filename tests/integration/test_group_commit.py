"""Group commit: commands run together decide on each other's state and are written in one
transaction, in order; a failure or a collision never leaks into the others' outcomes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from commands import registry
from commands.base import Command, IfMatch, Receipt
from commands.end_users import RecordLoginActivity, RegisterEndUser, SignForm
from commands.group_commit import GroupCommitter, Submission, execute_together
from commands.registry import CommandSpec
from commands.runtime import UnitOfWork
from ledger.application import Ledger
from ledger.domain.end_users import EndUser
from ledger.errors import NotFound, RuleViolation, VersionMismatch
from ledger.ids import entity_id
from tests.conftest import CALLER, START
from tests.integration.builders import LONE_COC, login_summary, register_lone_user

COC = LONE_COC
U1 = entity_id(EndUser.kind, COC, "U1")


@pytest.fixture
def user(do: Callable[[Command], Receipt]) -> Receipt:
    return register_lone_user(do)


@pytest.fixture
def saves(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of events of each save (each one transaction)."""
    counted: list[int] = []
    original = Ledger.save_all

    def counting(self: Ledger, aggregates: Any, **options: Any) -> Any:
        recordings = original(self, aggregates, **options)
        counted.append(len(recordings))
        return recordings

    monkeypatch.setattr(Ledger, "save_all", counting)
    return counted


def logins(n: int, user: str = "U1", key: str | None = None) -> RecordLoginActivity:
    return login_summary(n, user=user, key=key, count=n)


def together(ledger: Ledger, *commands: Command, **options: Any) -> list[Receipt | Exception]:
    return execute_together(ledger, [Submission(c, CALLER, **options) for c in commands])


def receipts(outcomes: Sequence[Receipt | Exception]) -> list[Receipt]:
    assert all(isinstance(o, Receipt) for o in outcomes), outcomes
    return [o for o in outcomes if isinstance(o, Receipt)]


def versions(ledger: Ledger) -> list[int]:
    return [entry.event.originator_version for entry in ledger.history(U1)]


@pytest.mark.usefixtures("user")
def test_commands_run_together_are_one_transaction_in_their_order(
    ledger: Ledger, saves: list[int]
) -> None:
    before = versions(ledger)[-1]

    outcomes = together(
        ledger,
        logins(1),
        RegisterEndUser(coc=COC, user_ref="U2", agency_ref="AG1"),
        logins(2),
        logins(3),
    )

    written = receipts(outcomes)
    assert len(saves) == 1  # one transaction (the registration writes two events)
    assert [e.version for r in written if r.entity_id == U1 for e in r.events] == [
        before + 1,
        before + 2,
        before + 3,
    ]
    positions = [r.position for r in written]
    assert positions == sorted(positions)
    assert len(set(positions)) == 4
    assert versions(ledger)[-3:] == [before + 1, before + 2, before + 3]
    counts = [e.event.login_count for e in ledger.history(U1)[-3:]]  # type: ignore[attr-defined]
    assert counts == [1, 2, 3]


@pytest.mark.usefixtures("user")
def test_a_failing_command_gets_its_error_and_the_others_are_written(
    ledger: Ledger, saves: list[int]
) -> None:
    head = ledger.head()

    first, failed, last = together(ledger, logins(1), logins(2, user="U9"), logins(3))

    assert isinstance(failed, NotFound)
    assert isinstance(first, Receipt)
    assert isinstance(last, Receipt)
    assert saves == [2]
    assert ledger.head() == head + 2


@pytest.mark.usefixtures("user")
def test_a_command_that_half_changed_a_shared_entity_sends_each_command_alone(
    ledger: Ledger, saves: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    def half_done(cmd: SignForm, uow: UnitOfWork) -> EndUser:
        user = uow.get(EndUser, cmd.user_ref)
        user.summarise_logins(
            uow.meta, period_start=START, period_end=START, login_count=0, last_login_at=None
        )
        raise RuleViolation("test/half-done", "refused after changing the user")

    spec = registry.COMMANDS[SignForm.name]
    monkeypatch.setitem(registry.COMMANDS, SignForm.name, CommandSpec(spec.model, half_done))
    before = versions(ledger)[-1]

    first, failed, last = together(
        ledger,
        logins(1),
        SignForm(coc=COC, user_ref="U1", form="user-agreement", revision="r1"),
        logins(3),
    )

    assert isinstance(failed, RuleViolation)
    assert isinstance(first, Receipt)
    assert isinstance(last, Receipt)
    assert saves == [1, 1]  # each on its own
    assert versions(ledger)[-2:] == [before + 1, before + 2]
    counts = [e.event.login_count for e in ledger.history(U1)[-2:]]  # type: ignore[attr-defined]
    assert counts == [1, 3]


@pytest.mark.usefixtures("user")
def test_a_repeated_idempotency_key_in_a_group_is_written_once(
    ledger: Ledger, saves: list[int]
) -> None:
    head = ledger.head()

    first, again = receipts(together(ledger, logins(1, key="k-1"), logins(1, key="k-1")))

    assert again.replayed
    assert not first.replayed
    assert again.model_dump(exclude={"replayed"}) == first.model_dump(exclude={"replayed"})
    assert ledger.head() == head + 2  # the event and its idempotency record


@pytest.mark.usefixtures("user")
def test_what_a_command_loads_includes_what_earlier_ones_of_its_group_decided(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []

    def looks(cmd: SignForm, uow: UnitOfWork) -> EndUser:
        stored = uow.ledger.load(EndUser, U1)  # as an eligibility check reads it
        assert stored is not None
        seen.append(stored.version)
        return registry.COMMANDS[RecordLoginActivity.name].handler(logins(9), uow)  # type: ignore[no-any-return]

    spec = registry.COMMANDS[SignForm.name]
    monkeypatch.setitem(registry.COMMANDS, SignForm.name, CommandSpec(spec.model, looks))
    before = versions(ledger)[-1]

    receipts(
        together(
            ledger,
            logins(1),
            logins(2),
            SignForm(coc=COC, user_ref="U1", form="user-agreement", revision="r1"),
        )
    )

    assert seen == [before + 2]


@pytest.mark.usefixtures("user")
def test_if_match_counts_only_the_commands_own_events(ledger: Ledger) -> None:
    before = versions(ledger)[-1]
    ahead = Submission(logins(2), CALLER, if_match=IfMatch(versions=frozenset({before + 1})))
    stale = Submission(logins(3), CALLER, if_match=IfMatch(versions=frozenset({before})))

    first, second, third = execute_together(ledger, [Submission(logins(1), CALLER), ahead, stale])

    assert isinstance(first, Receipt)
    assert isinstance(second, Receipt)
    assert isinstance(third, VersionMismatch)
    assert third.current_version == before + 2


@pytest.mark.usefixtures("user")
def test_a_collision_with_another_writer_sends_each_command_alone(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = Ledger.save_all
    calls: list[int] = []

    def collides_once(self: Ledger, aggregates: Any, **options: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise IntegrityError("another writer got there first")
        return original(self, aggregates, **options)

    monkeypatch.setattr(Ledger, "save_all", collides_once)
    before = versions(ledger)[-1]

    written = receipts(together(ledger, logins(1), logins(2)))

    assert len(calls) == 3
    assert [r.events[0].version for r in written] == [before + 1, before + 2]
    assert versions(ledger)[-2:] == [before + 1, before + 2]


@pytest.mark.usefixtures("user")
def test_the_committer_thread_settles_concurrent_callers(ledger: Ledger) -> None:
    before = versions(ledger)[-1]
    committer = GroupCommitter(ledger, group_max=8)
    committer.start()
    try:
        with ThreadPoolExecutor(8) as pool:
            futures = [committer.submit(Submission(logins(n), CALLER)) for n in range(1, 41)]
            written = list(pool.map(lambda f: f.result(timeout=30), futures))
    finally:
        committer.stop()

    got = sorted(e.version for r in written for e in r.events)
    assert got == list(range(before + 1, before + 41))
    assert versions(ledger)[-40:] == got
    assert committer.submit(Submission(logins(99), CALLER)).exception() is not None
