"""A rule change by a new pack version effective from a date.

WI-500 2026.1 (from 2026-01-01) renews the CoC CE training every 12 months; 2026.2 (from
2026-07-01) every 24. Statuses before 2026-07-01 are unchanged by adopting 2026.2, statuses
from then on follow it, and a what-if shows the difference for one user. IL-510 2026.2 (from
2026-01-26) renames step 3; every evaluation names the exact pack (version and hash) it used.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from commands.end_users import RecordProctoredSession, RequestTraining
from commands.hard_rules import IL_INTRO_COURSE
from commands.organisations import AdoptPolicy
from ledger.application import Ledger
from ledger.clock import FixedClock
from ledger.domain.vocabulary import ProctoredOutcome
from ledger.policy.store import BUNDLED_PACKS
from projections.compliance.engine import CompiledPack, evaluate_user
from projections.compliance.results import Evaluation, Overall, PolicyRef, State
from projections.compliance.service import ComplianceService
from tests.integration.builders import (
    IL_PROJECT_COURSE,
    Chicago,
    Do,
    Wisconsin,
    chicago,
    coc,
    complete_course,
    user,
    wisconsin,
)

CE_CORE = "training:ce-core"
ROLES = ("hmis-ce-user",)
TRAINED = datetime(2025, 3, 1, 15, 0, tzinfo=UTC)  # the CE core training, before either version
EXPIRED_UNDER_12 = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)
VALID_UNDER_24_UNTIL = datetime(2027, 3, 1, 15, 0, tzinfo=UTC)
TAKES_OVER = datetime(2026, 7, 1, tzinfo=UTC)  # 2026.2's effective date, at midnight UTC
BEFORE_THE_CHANGE = (
    datetime(2026, 1, 15, 12, 0, tzinfo=UTC),  # still valid under 12 months
    datetime(2026, 3, 2, 15, 0, tzinfo=UTC),  # expired under 12 months
    datetime(2026, 6, 30, 23, 59, 59, tzinfo=UTC),  # the last moment of 2026.1
)


def sha256_of(coc_code: str, version: str) -> str:
    return hashlib.sha256((BUNDLED_PACKS / coc_code / f"{version}.toml").read_bytes()).hexdigest()


def evaluate(ledger: Ledger, w: Wisconsin, at: datetime, version: str | None = None) -> Evaluation:
    return ComplianceService(ledger).evaluate_user(w.coc, w.user, at, version=version, roles=ROLES)


@pytest.fixture
def w(do: Do) -> Wisconsin:
    """WI-500 with only 2026.1 adopted, and a user who did all three trainings in March 2025."""
    world = wisconsin(do)
    do(AdoptPolicy(coc=world.coc, version="2026.1"))
    complete_course(do, world.coc, world.user, "WI-CE-CORE", TRAINED)
    complete_course(do, world.coc, world.user, "WI-HMIS-CE-WORKFLOW-1", TRAINED + timedelta(days=4))
    complete_course(do, world.coc, world.user, "WI-HMIS-CE-WORKFLOW-2", TRAINED + timedelta(days=9))
    return world


def adopt_24_months(do: Do, w: Wisconsin) -> None:
    do(AdoptPolicy(coc=w.coc, version="2026.2"))


# --- WI-500: 12-month renewal becomes 24 -------------------------------------------------------


def test_statuses_before_the_effective_date_are_unchanged_by_adopting_the_new_version(
    ledger: Ledger, do: Do, w: Wisconsin
) -> None:
    before = {at: evaluate(ledger, w, at) for at in BEFORE_THE_CHANGE}

    adopt_24_months(do, w)
    after = {at: evaluate(ledger, w, at) for at in BEFORE_THE_CHANGE}

    for at in BEFORE_THE_CHANGE:
        assert (
            after[at].policy
            == before[at].policy
            == PolicyRef("WI-500", "2026.1", sha256_of("WI-500", "2026.1"))
        )
        assert after[at].overall is before[at].overall
        assert after[at].clauses == before[at].clauses
        assert after[at].access == before[at].access
        assert after[at].findings == before[at].findings
    assert after[BEFORE_THE_CHANGE[0]].status(CE_CORE).state is State.SATISFIED
    assert after[BEFORE_THE_CHANGE[1]].status(CE_CORE).state is State.EXPIRED


def test_statuses_from_the_effective_date_follow_the_new_version(
    ledger: Ledger, do: Do, w: Wisconsin, clock: FixedClock
) -> None:
    adopt_24_months(do, w)
    clock.set(datetime(2026, 7, 2, 9, 0, tzinfo=UTC))

    for at in (TAKES_OVER, clock.now()):
        e = evaluate(ledger, w, at)
        assert e.policy == PolicyRef("WI-500", "2026.2", sha256_of("WI-500", "2026.2"))
        assert e.overall is Overall.COMPLIANT
        assert e.status(CE_CORE).valid_until == VALID_UNDER_24_UNTIL


def test_a_training_expired_under_12_months_is_satisfied_under_24(
    ledger: Ledger, do: Do, w: Wisconsin, clock: FixedClock
) -> None:
    adopt_24_months(do, w)
    clock.set(datetime(2026, 7, 2, 9, 0, tzinfo=UTC))

    last_day = evaluate(ledger, w, TAKES_OVER - timedelta(seconds=1))
    first_day = evaluate(ledger, w, TAKES_OVER)

    assert last_day.status(CE_CORE).state is State.EXPIRED
    assert last_day.status(CE_CORE).expired_since == EXPIRED_UNDER_12
    assert last_day.overall is Overall.NON_COMPLIANT
    assert first_day.status(CE_CORE).state is State.SATISFIED
    assert first_day.status(CE_CORE).evidence == last_day.status(CE_CORE).evidence
    assert first_day.overall is Overall.COMPLIANT


def test_a_what_if_under_the_new_version_shows_the_difference_for_a_user(
    ledger: Ledger, do: Do, w: Wisconsin, clock: FixedClock
) -> None:
    adopt_24_months(do, w)

    in_force = evaluate(ledger, w, clock.now())
    what_if = evaluate(ledger, w, clock.now(), version="2026.2")

    assert in_force.policy == PolicyRef("WI-500", "2026.1", sha256_of("WI-500", "2026.1"))
    assert (in_force.overall, in_force.status(CE_CORE).state) == (
        Overall.NON_COMPLIANT,
        State.EXPIRED,
    )
    assert in_force.status(CE_CORE).expired_since == EXPIRED_UNDER_12
    assert what_if.policy == PolicyRef(
        "WI-500", "2026.2", sha256_of("WI-500", "2026.2"), what_if=True
    )
    assert (what_if.overall, what_if.status(CE_CORE).state) == (
        Overall.COMPLIANT,
        State.SATISFIED,
    )
    assert what_if.status(CE_CORE).valid_until == VALID_UNDER_24_UNTIL
    assert what_if.access is not None
    assert in_force.access is None
    assert what_if.as_of == in_force.as_of == clock.now()


def test_a_what_if_can_preview_a_version_not_yet_adopted(
    ledger: Ledger, w: Wisconsin, clock: FixedClock
) -> None:
    preview = evaluate(ledger, w, clock.now(), version="2026.2")

    assert preview.policy == PolicyRef(
        "WI-500", "2026.2", sha256_of("WI-500", "2026.2"), what_if=True
    )
    assert preview.overall is Overall.COMPLIANT
    assert [a.version for a in coc(ledger, w.coc).adoptions()] == ["2026.1"]


def test_asking_for_the_version_in_force_is_not_a_what_if(
    ledger: Ledger, do: Do, w: Wisconsin, clock: FixedClock
) -> None:
    adopt_24_months(do, w)

    named = evaluate(ledger, w, clock.now(), version="2026.1")

    assert named.policy.what_if is False
    assert named.clauses == evaluate(ledger, w, clock.now()).clauses


def test_the_next_change_includes_the_moment_the_new_version_takes_over(
    ledger: Ledger, do: Do, w: Wisconsin, clock: FixedClock
) -> None:
    expired_before_adoption = evaluate(ledger, w, clock.now())
    adopt_24_months(do, w)

    expired = evaluate(ledger, w, clock.now())
    still_valid = evaluate(ledger, w, BEFORE_THE_CHANGE[0])
    under_24 = evaluate(ledger, w, TAKES_OVER)

    assert expired_before_adoption.next_change is None  # nothing would change by itself
    assert expired.next_change == TAKES_OVER
    assert still_valid.next_change == EXPIRED_UNDER_12  # the expiry comes first
    assert under_24.next_change == VALID_UNDER_24_UNTIL  # no later version is adopted


# --- IL-510: step 3 renamed from 2026-01-26 ----------------------------------------------------


def chicago_through_courses(do: Do) -> Chicago:
    """IL-510 with both versions adopted; steps 1 and 2 done in early January 2026."""
    w = chicago(do)
    do(AdoptPolicy(coc=w.coc, version="2026.1"))
    do(AdoptPolicy(coc=w.coc, version="2026.2"))
    do(
        RequestTraining(
            coc=w.coc,
            user_ref=w.user,
            ticket_ref="ticket-1",
            person_name="Test Person Chicago",
            agency_email="il-user-1@example.org",
            lms_username="il.user.one",
            expected_responsibilities=["intake"],
            projects=["Synthetic Shelter"],
            requested_by=w.ata,
            effective_at=datetime(2026, 1, 5, 15, 0, tzinfo=UTC),
        )
    )
    complete_course(do, w.coc, w.user, IL_INTRO_COURSE, datetime(2026, 1, 6, 15, 0, tzinfo=UTC))
    complete_course(do, w.coc, w.user, IL_PROJECT_COURSE, datetime(2026, 1, 7, 15, 0, tzinfo=UTC))
    return w


def evaluate_chicago(ledger: Ledger, w: Chicago, at: datetime) -> Evaluation:
    return ComplianceService(ledger).evaluate_user(w.coc, w.user, at, roles=("end-user",))


def test_a_missing_step_three_is_named_by_the_version_in_force(
    ledger: Ledger, do: Do, clock: FixedClock
) -> None:
    w = chicago_through_courses(do)

    old = evaluate_chicago(ledger, w, datetime(2026, 1, 20, 12, 0, tzinfo=UTC))
    new = evaluate_chicago(ledger, w, clock.now())

    assert old.policy.version == "2026.1"
    assert old.status("milestone:proctored-passed").reason == (
        "missing: Virtual Proctored Session Review passed"
    )
    assert new.policy.version == "2026.2"
    assert new.status("milestone:proctored-passed").reason == (
        "missing: Sample Client Assignment passed"
    )


def test_a_session_passed_under_the_old_version_satisfies_the_renamed_clause(
    ledger: Ledger, do: Do, clock: FixedClock
) -> None:
    w = chicago_through_courses(do)
    do(
        RecordProctoredSession(
            coc=w.coc,
            user_ref=w.user,
            session_ref="vps-1",
            outcome=ProctoredOutcome.PASSED,
            effective_at=datetime(2026, 1, 21, 15, 0, tzinfo=UTC),
        )
    )

    old = evaluate_chicago(ledger, w, datetime(2026, 1, 22, 12, 0, tzinfo=UTC))
    new = evaluate_chicago(ledger, w, clock.now())

    old_status = old.status("milestone:proctored-passed")
    new_status = new.status("milestone:proctored-passed")
    assert (old_status.state, old_status.reason) == (
        State.SATISFIED,
        "Virtual Proctored Session Review passed",
    )
    assert (new_status.state, new_status.reason) == (
        State.SATISFIED,
        "Sample Client Assignment passed",
    )
    assert new_status.evidence == old_status.evidence


# --- the policy an evaluation names ------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "version"),
    [(datetime(2026, 3, 2, 15, 0, tzinfo=UTC), "2026.1"), (TAKES_OVER, "2026.2")],
)
def test_an_evaluation_names_the_adopted_pack_by_version_and_hash(
    ledger: Ledger, do: Do, w: Wisconsin, at: datetime, version: str
) -> None:
    adopt_24_months(do, w)
    [adopted] = [a for a in coc(ledger, w.coc).adoptions() if a.version == version]

    e = evaluate(ledger, w, at)

    assert e.policy == PolicyRef("WI-500", version, adopted.content_sha256)
    assert adopted.content_sha256 == sha256_of("WI-500", version)


def test_a_past_status_is_reproduced_from_the_version_and_hash_it_names(
    ledger: Ledger, do: Do, w: Wisconsin, clock: FixedClock
) -> None:
    adopt_24_months(do, w)
    past = clock.now()
    recorded = evaluate(ledger, w, past)
    clock.advance(timedelta(days=10))
    complete_course(do, w.coc, w.user, "WI-CE-CORE")  # renewed later: not part of the past

    again = evaluate(ledger, w, past)
    service = ComplianceService(ledger)
    subject = user(ledger, w.coc, w.user)
    pinned = CompiledPack(ledger.packs.get(w.coc, recorded.policy.version, recorded.policy.sha256))
    rebuilt = evaluate_user(
        subject, service.organisation(subject, service.tenant(w.coc)), pinned, past, roles=ROLES
    )

    assert recorded.status(CE_CORE).state is State.EXPIRED
    assert again == recorded
    assert (rebuilt.policy, rebuilt.overall, rebuilt.clauses) == (
        recorded.policy,
        recorded.overall,
        recorded.clauses,
    )
    assert evaluate(ledger, w, clock.now()).overall is Overall.COMPLIANT
