"""The optimistic-concurrency path, forced: a write that loses the race is retried from fresh
state, and reported when it keeps losing; racing retries of one idempotent command write once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from commands.base import Caller, Command, Receipt
from commands.end_users import RegisterEndUser, RequestRole
from commands.organisations import RegisterAgency, RegisterCoc
from commands.registry import run
from commands.runtime import UnitOfWork, execute
from ledger.application import Ledger
from ledger.clock import FixedClock
from ledger.domain.base import Source
from ledger.domain.end_users import EndUser
from ledger.errors import ConcurrencyConflict
from ledger.ids import entity_id
from ledger.settings import Settings
from tests.conftest import CALLER, START

COC = "WI-500"


@pytest.fixture
def other(settings: Settings) -> Iterator[Ledger]:
    """A second process on the same store."""
    app = Ledger(settings, clock=FixedClock(START))
    yield app
    app.close()


@pytest.fixture(autouse=True)
def user(do: Callable[[Command], Receipt]) -> None:
    do(RegisterCoc(coc=COC, coc_name="Synthetic Balance of State", process="wi-bos"))
    do(RegisterAgency(coc=COC, agency_ref="AG1", agency_name="Northwoods Shelter"))
    do(RegisterEndUser(coc=COC, user_ref="U1", agency_ref="AG1"))


def racing_handler(other: Ledger, losses: int) -> tuple[Callable[..., EndUser], list[int]]:
    """A handler that lets ``other`` write the same user first, ``losses`` times."""
    versions: list[int] = []

    def handler(command: RequestRole, uow: UnitOfWork) -> EndUser:
        user = uow.get(EndUser, "U1")
        versions.append(user.version)
        if len(versions) <= losses:
            run(other, RequestRole(coc=COC, user_ref="U1", role="rival"), CALLER)
        user.request_role(command.role, uow.meta)
        return user

    return handler, versions


def roles(ledger: Ledger) -> list[str]:
    fresh = Ledger(ledger.settings, clock=FixedClock(START))
    try:
        user = fresh.load(EndUser, entity_id("user", COC, "U1"))
        assert user is not None
        return [r.role for r in user.facts(EndUser.RoleRequested)]
    finally:
        fresh.close()


def test_a_write_that_loses_the_race_is_retried_on_fresh_state(
    ledger: Ledger, other: Ledger
) -> None:
    handler, versions = racing_handler(other, losses=2)

    receipt = execute(ledger, RequestRole(coc=COC, user_ref="U1", role="outreach"), CALLER, handler)

    assert versions == [versions[0], versions[0] + 1, versions[0] + 2]
    assert receipt.events[0].version == versions[0] + 3
    assert roles(ledger) == ["rival", "rival", "outreach"]


def test_a_write_that_keeps_losing_is_reported_as_a_concurrency_conflict(
    settings: Settings, other: Ledger
) -> None:
    impatient = Ledger(settings.model_copy(update={"command_retries": 2}), clock=FixedClock(START))
    handler, versions = racing_handler(other, losses=99)
    try:
        with pytest.raises(ConcurrencyConflict):
            execute(
                impatient, RequestRole(coc=COC, user_ref="U1", role="outreach"), CALLER, handler
            )
    finally:
        impatient.close()

    assert len(versions) == 3
    assert roles(other) == ["rival", "rival", "rival"]


def test_racing_retries_of_one_idempotent_command_write_it_once(
    ledger: Ledger, other: Ledger
) -> None:
    command = RequestRole(coc=COC, user_ref="U1", role="outreach", idempotency_key="role-1")
    head = ledger.head()
    callers = [Caller(actor="svc", source=Source.API, request_id=f"r{i}") for i in range(2)]

    with ThreadPoolExecutor(max_workers=2) as pool:
        receipts = list(
            pool.map(
                lambda pair: run(pair[0], command, pair[1]),
                [(ledger, callers[0]), (other, callers[1])],
            )
        )

    assert receipts[0].position == receipts[1].position
    assert sorted(r.replayed for r in receipts) == [False, True]
    assert ledger.head() == head + 2  # the role event and its idempotency record
    assert roles(ledger) == ["outreach"]
