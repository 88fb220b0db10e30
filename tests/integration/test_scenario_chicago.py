"""Chicago (IL-510) under its bundled policy packs.

A new hire walks the four steps from nothing to live credentials, and the evaluation is checked
after every step; then each clause of the pack is, on its own, missing, out of order or of an
old revision, and issuing credentials with the policy enforced is refused naming it.

Where Chicago's hard rules (commands/hard_rules.py) refuse credentials before the policy is
asked (no training request, no passed step 3), the test says so and asserts that rule.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

import pytest

from commands.base import Command, Receipt
from commands.end_users import (
    IssueCredentials,
    RecordProctoredSession,
    RequestTraining,
    SignForm,
)
from commands.hard_rules import IL_INTRO_COURSE, IL_READ_ONLY_INTRO_COURSE
from commands.organisations import AdoptPolicy
from commands.registry import run
from ledger.application import Ledger
from ledger.clock import FixedClock
from ledger.domain.base import LedgerEvent
from ledger.domain.end_users import EndUser
from ledger.domain.vocabulary import CredentialState, FormKind, ProctoredOutcome
from projections.compliance.results import Evaluation, Evidence, Overall, State
from projections.compliance.service import ComplianceService
from tests.conftest import CALLER
from tests.integration.builders import (
    IL_PROJECT_COURSE,
    Chicago,
    Do,
    chicago,
    complete_course,
    il_training_request,
    refused,
    user,
)

REQUESTED = "milestone:training-requested"
INTRO = "training:hmis-intro"
INTRO_RO = "training:hmis-intro-read-only"
PROJECT = "training:project-course"
PROCTORED = "milestone:proctored-passed"
EUA = "form:end-user-agreement"
NAVIGATOR = "training:housing-system-navigator"
SPECIALIST = "training:housing-resource-specialist"
INACTIVITY = "inactivity:ladder"
EUA_REVISION = "2025"


@pytest.fixture
def do_policy(ledger: Ledger) -> Do:
    """Run a command with the policy in force deciding eligibility."""
    service = ComplianceService(ledger)

    def _do(command: Command) -> Receipt:
        return run(ledger, command, CALLER, service)

    return _do


@pytest.fixture
def w(do: Do) -> Chicago:
    """IL-510 with both bundled versions adopted (2026.2 is in force from 2026-01-26)."""
    world = chicago(do)
    do(AdoptPolicy(coc=world.coc, version="2026.1"))
    do(AdoptPolicy(coc=world.coc, version="2026.2"))
    return world


# --- helpers -----------------------------------------------------------------------------------


def evaluate(
    ledger: Ledger, w: Chicago, at: datetime, roles: tuple[str, ...] = ("end-user",)
) -> Evaluation:
    return ComplianceService(ledger).evaluate_user(w.coc, w.user, at, roles=roles)


def states(evaluation: Evaluation) -> dict[str, State]:
    return {c.clause: c.state for c in evaluation.clauses}


def reason(evaluation: Evaluation, clause: str) -> str:
    return evaluation.status(clause).reason


def evidence(evaluation: Evaluation, clause: str) -> Evidence:
    [only] = evaluation.status(clause).evidence
    return only


def last_fact_id(ledger: Ledger, w: Chicago, kind: type[LedgerEvent]) -> UUID:
    fact = user(ledger, w.coc, w.user).last(kind)
    assert fact is not None
    return fact.event_id


def proctored(do: Do, w: Chicago, outcome: ProctoredOutcome, at: datetime | None = None) -> None:
    do(
        RecordProctoredSession(
            coc=w.coc, user_ref=w.user, session_ref="vps-1", outcome=outcome, effective_at=at
        )
    )


def sign_eua(do: Do, w: Chicago, at: datetime | None = None, revision: str = EUA_REVISION) -> None:
    do(
        SignForm(
            coc=w.coc,
            user_ref=w.user,
            form=FormKind.END_USER_AGREEMENT,
            revision=revision,
            effective_at=at,
        )
    )


def issue(hmis_role: str) -> IssueCredentials:
    return IssueCredentials(coc="IL-510", user_ref="il-user-1", hmis_role=hmis_role)


def refused_by_policy(ledger: Ledger, do_policy: Do, hmis_role: str) -> list[str]:
    err = refused(ledger, do_policy, issue(hmis_role), "policy/eligible-for-role")
    missing: list[str] = err.details["missing"]
    return missing


def days_ago(clock: FixedClock, days: float) -> datetime:
    return clock.now() - timedelta(days=days)


def end_user_path(do: Do, w: Chicago, clock: FixedClock) -> None:
    """Steps 1 to 3 in order over the last four days (step 4's agreement not signed)."""
    il_training_request_at(do, w, days_ago(clock, 4))
    complete_course(do, w.coc, w.user, IL_INTRO_COURSE, days_ago(clock, 3))
    complete_course(do, w.coc, w.user, IL_PROJECT_COURSE, days_ago(clock, 2))
    proctored(do, w, ProctoredOutcome.PASSED, days_ago(clock, 1))


def il_training_request_at(do: Do, w: Chicago, at: datetime) -> None:
    """Step 1 as the builder files it, dated ``at``."""
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
            effective_at=at,
        )
    )


# --- the walk from nothing to live credentials -------------------------------------------------


def test_a_new_hire_walks_from_nothing_to_live_end_user_credentials(
    ledger: Ledger, do: Do, do_policy: Do, w: Chicago, clock: FixedClock
) -> None:
    # step 0: registered with the agency, nothing done
    e = evaluate(ledger, w, clock.now())
    assert (e.policy.version, e.policy.what_if) == ("2026.2", False)
    assert e.overall is Overall.NON_COMPLIANT
    assert e.access is None
    assert states(e) == dict.fromkeys([REQUESTED, INTRO, PROJECT, PROCTORED, EUA], State.MISSING)
    assert reason(e, REQUESTED) == (
        "missing: Request for training filed by the ATA (Help Desk ticket)"
    )
    assert reason(e, INTRO) == f"missing: complete one of {IL_INTRO_COURSE} (after {REQUESTED})"
    assert reason(e, PROJECT).startswith("missing: complete one of IL-PROJ-DROP-IN, ")
    assert reason(e, PROJECT).endswith(f"(after {INTRO})")
    assert reason(e, PROCTORED) == f"missing: Sample Client Assignment passed (after {PROJECT})"
    assert reason(e, EUA) == f"missing: sign end-user-agreement revision {EUA_REVISION}"
    assert e.next_change is None

    # step 1: the ATA files the request for training
    clock.advance(timedelta(days=1))
    il_training_request(do, w)
    e = evaluate(ledger, w, clock.now())
    assert e.overall is Overall.NON_COMPLIANT
    assert states(e) == {
        REQUESTED: State.SATISFIED,
        INTRO: State.MISSING,
        PROJECT: State.MISSING,
        PROCTORED: State.MISSING,
        EUA: State.MISSING,
    }
    assert evidence(e, REQUESTED) == Evidence(
        last_fact_id(ledger, w, EndUser.TrainingRequested), clock.now(), "training-requested"
    )
    assert reason(e, INTRO) == f"missing: complete one of {IL_INTRO_COURSE}"
    assert e.access is None

    # step 2a: Introduction to HMIS
    clock.advance(timedelta(days=1))
    complete_course(do, w.coc, w.user, IL_INTRO_COURSE, score=100)
    e = evaluate(ledger, w, clock.now())
    assert e.overall is Overall.NON_COMPLIANT
    assert states(e)[INTRO] is State.SATISFIED
    assert evidence(e, INTRO) == Evidence(
        last_fact_id(ledger, w, EndUser.CourseCompleted),
        clock.now(),
        f"completed {IL_INTRO_COURSE}",
    )
    assert states(e)[PROJECT] is State.MISSING
    assert not reason(e, PROJECT).endswith(")")  # no longer waiting for the introduction
    assert (states(e)[PROCTORED], states(e)[EUA]) == (State.MISSING, State.MISSING)

    # step 2b: the project-specific course
    clock.advance(timedelta(days=1))
    complete_course(do, w.coc, w.user, IL_PROJECT_COURSE)
    e = evaluate(ledger, w, clock.now())
    assert e.overall is Overall.NON_COMPLIANT
    assert states(e)[PROJECT] is State.SATISFIED
    assert evidence(e, PROJECT).what == f"completed {IL_PROJECT_COURSE}"
    assert reason(e, PROCTORED) == "missing: Sample Client Assignment passed"
    assert states(e)[EUA] is State.MISSING

    # step 3: the Sample Client Assignment (clause milestone:proctored-passed) passed
    clock.advance(timedelta(days=1))
    proctored(do, w, ProctoredOutcome.PASSED)
    e = evaluate(ledger, w, clock.now())
    assert e.overall is Overall.NON_COMPLIANT
    assert e.unmet() == [EUA]
    assert reason(e, PROCTORED) == "Sample Client Assignment passed"
    assert evidence(e, PROCTORED) == Evidence(
        last_fact_id(ledger, w, EndUser.ProctoredSessionRecorded), clock.now(), "proctored-passed"
    )
    assert e.access is None  # the agreement is a base clause: no access without it

    # step 4a: the End User Agreement
    clock.advance(timedelta(days=1))
    sign_eua(do, w)
    e = evaluate(ledger, w, clock.now())
    assert e.overall is Overall.COMPLIANT
    assert set(states(e).values()) == {State.SATISFIED}
    assert evidence(e, EUA).what == f"signed end-user-agreement revision {EUA_REVISION}"
    assert e.access is not None
    assert (e.access.role, e.access.hmis_role) == ("end-user", "end-user")
    assert e.access.permissions == ("view-client-records", "enter-project-data")
    assert e.next_change is None  # nothing here expires

    # step 4b: live credentials, with the policy enforced
    clock.advance(timedelta(hours=2))
    do_policy(issue("end-user"))
    issued_at = clock.now()
    e = evaluate(ledger, w, clock.now())
    assert user(ledger, w.coc, w.user).credentials is CredentialState.ACTIVE
    assert e.overall is Overall.COMPLIANT
    assert e.findings == ()
    assert e.status(INACTIVITY).state is State.SATISFIED
    assert e.status(INACTIVITY).valid_until == issued_at + timedelta(days=150)  # the warning
    assert e.next_change == issued_at + timedelta(days=150)


def test_a_read_only_user_walks_to_read_only_credentials_without_step_three(
    ledger: Ledger, do: Do, do_policy: Do, w: Chicago, clock: FixedClock
) -> None:
    read_only = ("read-only",)
    e = evaluate(ledger, w, clock.now(), read_only)
    assert e.overall is Overall.NON_COMPLIANT
    assert states(e) == dict.fromkeys([REQUESTED, INTRO_RO, EUA], State.MISSING)
    assert reason(e, INTRO_RO) == (
        f"missing: complete one of {IL_READ_ONLY_INTRO_COURSE}, {IL_INTRO_COURSE} "
        f"(after {REQUESTED})"
    )

    clock.advance(timedelta(days=1))
    il_training_request(do, w)
    e = evaluate(ledger, w, clock.now(), read_only)
    assert states(e) == {REQUESTED: State.SATISFIED, INTRO_RO: State.MISSING, EUA: State.MISSING}
    assert evidence(e, REQUESTED).event_id == last_fact_id(ledger, w, EndUser.TrainingRequested)
    assert e.overall is Overall.NON_COMPLIANT

    clock.advance(timedelta(days=1))
    complete_course(do, w.coc, w.user, IL_READ_ONLY_INTRO_COURSE)
    e = evaluate(ledger, w, clock.now(), read_only)
    assert states(e) == {REQUESTED: State.SATISFIED, INTRO_RO: State.SATISFIED, EUA: State.MISSING}
    assert evidence(e, INTRO_RO).what == f"completed {IL_READ_ONLY_INTRO_COURSE}"
    assert e.overall is Overall.NON_COMPLIANT
    assert e.access is None

    clock.advance(timedelta(days=1))
    sign_eua(do, w)
    e = evaluate(ledger, w, clock.now(), read_only)
    assert e.overall is Overall.COMPLIANT
    assert set(states(e).values()) == {State.SATISFIED}
    assert PROCTORED not in states(e)
    assert e.access is not None
    assert (e.access.hmis_role, e.access.permissions) == ("read-only", ("view-client-records",))

    clock.advance(timedelta(hours=1))
    do_policy(issue("read-only"))
    e = evaluate(ledger, w, clock.now(), read_only)
    assert user(ledger, w.coc, w.user).hmis_role == "read-only"
    assert e.overall is Overall.COMPLIANT
    assert e.status(INACTIVITY).state is State.SATISFIED
    assert e.next_change == clock.now() + timedelta(days=150)


# --- milestone:training-requested --------------------------------------------------------------


def test_without_a_training_request_the_steps_after_it_wait_and_the_hard_rule_refuses(
    ledger: Ledger, do: Do, do_policy: Do, w: Chicago, clock: FixedClock
) -> None:
    # Every other clause comes after the request, so it is never the only thing missing.
    sign_eua(do, w)

    e = evaluate(ledger, w, clock.now(), roles=())

    assert e.unmet() == [REQUESTED, EUA]
    assert reason(e, EUA) == (
        f"End User Agreement, submitted to the ATA/Supervisor needs {REQUESTED} first"
    )
    refused(ledger, do_policy, issue("read-only"), "IL-510/step-1/training-request-first")


# --- training:hmis-intro -----------------------------------------------------------------------


def test_an_introduction_completed_before_the_request_is_the_only_thing_missing(
    ledger: Ledger, do: Do, do_policy: Do, w: Chicago, clock: FixedClock
) -> None:
    il_training_request_at(do, w, days_ago(clock, 4))
    complete_course(do, w.coc, w.user, IL_INTRO_COURSE, days_ago(clock, 5))  # backdated
    complete_course(do, w.coc, w.user, IL_PROJECT_COURSE, days_ago(clock, 3))
    proctored(do, w, ProctoredOutcome.PASSED, days_ago(clock, 2))
    sign_eua(do, w, days_ago(clock, 1))

    e = evaluate(ledger, w, clock.now())

    assert e.unmet() == [INTRO]
    assert reason(e, INTRO) == (
        f"out of order: {ledger.packs.get('IL-510', '2026.2').pack.clause(INTRO).title} on "
        f"{days_ago(clock, 5).date()} came before {REQUESTED} on {days_ago(clock, 4).date()}; "
        "do it again after"
    )
    assert evidence(e, INTRO).what == "too early"
    assert INTRO in refused_by_policy(ledger, do_policy, "end-user")


# --- training:hmis-intro-read-only -------------------------------------------------------------


def test_a_read_only_introduction_before_the_request_is_out_of_order(
    ledger: Ledger, do: Do, do_policy: Do, w: Chicago, clock: FixedClock
) -> None:
    il_training_request_at(do, w, days_ago(clock, 2))
    complete_course(do, w.coc, w.user, IL_READ_ONLY_INTRO_COURSE, days_ago(clock, 3))
    sign_eua(do, w, days_ago(clock, 1))

    e = evaluate(ledger, w, clock.now(), ("read-only",))

    assert e.unmet() == [INTRO_RO]
    assert reason(e, INTRO_RO).startswith("out of order: Introduction to HMIS, read-only")
    assert refused_by_policy(ledger, do_policy, "read-only") == [INTRO_RO]


def test_a_read_only_user_without_an_introduction_lacks_only_that_clause(
    ledger: Ledger, do: Do, do_policy: Do, w: Chicago, clock: FixedClock
) -> None:
    il_training_request(do, w)
    sign_eua(do, w)

    e = evaluate(ledger, w, clock.now(), ("read-only",))

    assert e.unmet() == [INTRO_RO]
    assert reason(e, INTRO_RO) == (
        f"missing: complete one of {IL_READ_ONLY_INTRO_COURSE}, {IL_INTRO_COURSE}"
    )
    # Chicago's hard rule speaks first: without an introduction, only a passed step 3 would do.
    refused(ledger, do_policy, issue("read-only"), "IL-510/step-4/proctored-pass-first")


# --- training:project-course -------------------------------------------------------------------


def test_a_project_course_before_the_introduction_is_the_only_thing_missing(
    ledger: Ledger, do: Do, do_policy: Do, w: Chicago, clock: FixedClock
) -> None:
    il_training_request_at(do, w, days_ago(clock, 5))
    complete_course(do, w.coc, w.user, IL_INTRO_COURSE, days_ago(clock, 3))
    complete_course(do, w.coc, w.user, IL_PROJECT_COURSE, days_ago(clock, 4))  # backdated
    proctored(do, w, ProctoredOutcome.PASSED, days_ago(clock, 2))
    sign_eua(do, w, days_ago(clock, 1))

    e = evaluate(ledger, w, clock.now())

    assert e.unmet() == [PROJECT]
    assert reason(e, PROJECT).startswith(
        f"out of order: Project-specific workflow course on {days_ago(clock, 4).date()} "
        f"came before {INTRO} on {days_ago(clock, 3).date()}"
    )
    assert PROJECT in refused_by_policy(ledger, do_policy, "end-user")


# --- milestone:proctored-passed ----------------------------------------------------------------


def test_a_step_three_pass_dated_before_the_project_course_is_the_only_thing_missing(
    ledger: Ledger, do: Do, do_policy: Do, w: Chicago, clock: FixedClock
) -> None:
    il_training_request_at(do, w, days_ago(clock, 5))
    complete_course(do, w.coc, w.user, IL_INTRO_COURSE, days_ago(clock, 4))
    complete_course(do, w.coc, w.user, IL_PROJECT_COURSE, days_ago(clock, 2))
    proctored(do, w, ProctoredOutcome.PASSED, days_ago(clock, 3))  # backdated
    sign_eua(do, w, days_ago(clock, 1))

    e = evaluate(ledger, w, clock.now())

    assert e.unmet() == [PROCTORED]
    assert reason(e, PROCTORED).startswith("out of order: Sample Client Assignment passed on ")
    assert PROCTORED in refused_by_policy(ledger, do_policy, "end-user")


def test_a_step_three_needing_corrections_is_the_only_thing_missing(
    ledger: Ledger, do: Do, do_policy: Do, w: Chicago, clock: FixedClock
) -> None:
    il_training_request_at(do, w, days_ago(clock, 4))
    complete_course(do, w.coc, w.user, IL_INTRO_COURSE, days_ago(clock, 3))
    complete_course(do, w.coc, w.user, IL_PROJECT_COURSE, days_ago(clock, 2))
    proctored(do, w, ProctoredOutcome.CORRECTIONS_NEEDED, days_ago(clock, 1))
    sign_eua(do, w)

    e = evaluate(ledger, w, clock.now())

    assert e.unmet() == [PROCTORED]
    assert reason(e, PROCTORED) == "missing: Sample Client Assignment passed"
    # Chicago's hard rule speaks first: live credentials follow a passed step 3.
    refused(ledger, do_policy, issue("end-user"), "IL-510/step-4/proctored-pass-first")


# --- form:end-user-agreement -------------------------------------------------------------------


def test_an_unsigned_end_user_agreement_is_the_only_thing_missing(
    ledger: Ledger, do: Do, do_policy: Do, w: Chicago, clock: FixedClock
) -> None:
    end_user_path(do, w, clock)

    e = evaluate(ledger, w, clock.now())

    assert e.unmet() == [EUA]
    assert reason(e, EUA) == f"missing: sign end-user-agreement revision {EUA_REVISION}"
    assert refused_by_policy(ledger, do_policy, "end-user") == [EUA]


def test_an_end_user_agreement_of_an_old_revision_must_be_signed_again(
    ledger: Ledger, do: Do, do_policy: Do, w: Chicago, clock: FixedClock
) -> None:
    end_user_path(do, w, clock)
    sign_eua(do, w, revision="2024")

    e = evaluate(ledger, w, clock.now())

    assert e.unmet() == [EUA]
    assert e.status(EUA).state is State.EXPIRED
    assert reason(e, EUA) == (
        f"signed revision 2024 of end-user-agreement; revision {EUA_REVISION} requires "
        "signing again"
    )
    assert refused_by_policy(ledger, do_policy, "end-user") == [EUA]


def test_an_end_user_agreement_signed_before_the_request_is_out_of_order(
    ledger: Ledger, do: Do, do_policy: Do, w: Chicago, clock: FixedClock
) -> None:
    sign_eua(do, w, days_ago(clock, 5))
    end_user_path(do, w, clock)

    e = evaluate(ledger, w, clock.now())

    assert e.unmet() == [EUA]
    assert reason(e, EUA).startswith("out of order: End User Agreement")
    assert refused_by_policy(ledger, do_policy, "end-user") == [EUA]


# --- the alternate trainings of the Coordinated Entry roles ------------------------------------


@pytest.mark.parametrize(
    ("role", "clause"),
    [("housing-system-navigator", NAVIGATOR), ("ce-1474", SPECIALIST)],
)
def test_a_coordinated_entry_role_without_its_training_lacks_only_that_training(
    ledger: Ledger,
    do: Do,
    do_policy: Do,
    w: Chicago,
    clock: FixedClock,
    role: str,
    clause: str,
) -> None:
    end_user_path(do, w, clock)  # Chicago's hard rule wants a passed step 3 for any such role
    sign_eua(do, w)

    e = evaluate(ledger, w, clock.now(), (role,))

    assert e.unmet() == [clause]
    assert reason(e, clause).startswith("missing: complete one of IL-CE-")
    assert refused_by_policy(ledger, do_policy, role) == [clause]
