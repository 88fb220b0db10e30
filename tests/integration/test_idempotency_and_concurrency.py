"""Idempotent retries write nothing; concurrent writers never lose or overwrite a write."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from commands.agreements import DraftAgreement, SignAgreement
from commands.base import Command, Receipt
from commands.end_users import RecordLoginActivity
from commands.organisations import AddRegion, JoinRegion, RegisterAgency, RegisterCoc
from commands.registry import run
from ledger.application import Ledger
from ledger.clock import FixedClock
from ledger.domain.agreements import Agreement
from ledger.domain.end_users import EndUser
from ledger.domain.vocabulary import AgreementKind, Party
from ledger.errors import IdempotencyKeyReused, RuleViolation
from ledger.ids import entity_id
from ledger.settings import Settings
from tests.conftest import CALLER, START
from tests.integration.builders import LONE_COC, login_summary, register_lone_user

COC = LONE_COC


@pytest.fixture
def user(do: Callable[[Command], Receipt]) -> Receipt:
    return register_lone_user(do)


def logins(n: int, key: str | None = None) -> RecordLoginActivity:
    return login_summary(n, key=key)


@pytest.mark.usefixtures("user")
def test_retry_with_same_key_returns_original_receipt_and_writes_nothing(
    ledger: Ledger, do: Callable[[Command], Receipt]
) -> None:
    first = do(logins(1, key="batch-7"))
    head = ledger.head()

    again = do(logins(1, key="batch-7"))

    assert again.replayed
    assert not first.replayed
    assert again.model_dump(exclude={"replayed"}) == first.model_dump(exclude={"replayed"})
    assert ledger.head() == head


@pytest.mark.usefixtures("user")
def test_retry_of_a_command_that_would_now_break_a_rule_still_returns_its_receipt(
    ledger: Ledger, do: Callable[[Command], Receipt]
) -> None:
    do(AddRegion(coc=COC, region="R1", region_name="North"))
    first = do(JoinRegion(coc=COC, agency_ref="AG1", region="R1", idempotency_key="join-1"))

    again = do(JoinRegion(coc=COC, agency_ref="AG1", region="R1", idempotency_key="join-1"))

    assert again.replayed
    assert again.position == first.position


@pytest.mark.usefixtures("user")
def test_same_key_with_different_payload_is_a_conflict(
    ledger: Ledger, do: Callable[[Command], Receipt]
) -> None:
    do(logins(1, key="batch-8"))
    head = ledger.head()

    with pytest.raises(IdempotencyKeyReused):
        do(logins(2, key="batch-8"))
    assert ledger.head() == head


@pytest.mark.usefixtures("user")
def test_concurrent_appends_to_one_entity_from_two_processes_are_all_kept(
    settings: Settings, ledger: Ledger
) -> None:
    other = Ledger(settings, clock=FixedClock(START))
    try:

        def write(app: Ledger, offset: int) -> None:
            for n in range(offset, offset + 15):
                run(app, logins(n), CALLER)

        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = [pool.submit(write, ledger, 0), pool.submit(write, other, 100)]
            for future in futures:
                future.result()
    finally:
        other.close()

    fresh = Ledger(settings, clock=FixedClock(START))  # reads the store, not a process cache
    try:
        user = fresh.repository.get(entity_id("user", COC, "U1"))
    finally:
        fresh.close()
    assert isinstance(user, EndUser)
    assert len(list(user.facts(EndUser.LoginActivitySummarised))) == 30


def test_two_concurrent_signatures_by_the_same_party_keep_exactly_one(
    settings: Settings, ledger: Ledger, do: Callable[[Command], Receipt]
) -> None:
    do(RegisterCoc(coc=COC, coc_name="Demo City CoC", process="lahsa"))
    do(RegisterAgency(coc=COC, agency_ref="AG1", agency_name="Harbor Outreach"))
    draft = do(
        DraftAgreement(
            coc=COC,
            agreement_kind=AgreementKind.ORGANIZATION_AGREEMENT,
            agency_ref="AG1",
            revision="2026-01",
        )
    )
    ref = f"{AgreementKind.ORGANIZATION_AGREEMENT}.AG1"
    other = Ledger(settings, clock=FixedClock(START))
    sign = SignAgreement(coc=COC, agreement_ref=ref, party=Party.AGENCY, signatory="ed-office")
    outcomes: list[str] = []

    def attempt(app: Ledger) -> None:
        try:
            run(app, sign, CALLER)
            outcomes.append("signed")
        except RuleViolation as err:
            outcomes.append(err.rule)

    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(attempt, [ledger, other]))
    finally:
        other.close()

    assert sorted(outcomes) == ["agreement/org-agreement/sign-once", "signed"]
    agreement = ledger.repository.get(draft.entity_id)
    assert isinstance(agreement, Agreement)
    assert [s.party for s in agreement.signatures()] == [Party.AGENCY]
