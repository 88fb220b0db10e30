"""Wisconsin Balance of State (WI-500) under its bundled policy packs.

A CE user walks from nothing to the HMIS CE role (CoC CE training, ICA's HMIS CE Workflow
parts 1 and 2, credentials), the evaluation checked after every step; then each clause of the
pack is, on its own, expired, out of order or missing, and issuing credentials with the policy
enforced is refused naming it. WI-500 has no hard rule on credentials: the policy decides.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from commands.base import Command, Receipt
from commands.end_users import IssueCredentials, RequestRole
from commands.organisations import AdoptPolicy
from commands.registry import run
from ledger.application import Ledger
from ledger.clock import FixedClock
from ledger.domain.end_users import EndUser
from ledger.domain.vocabulary import CredentialState
from projections.compliance.results import Evaluation, Evidence, Overall, State
from projections.compliance.service import ComplianceService
from tests.conftest import CALLER
from tests.integration.builders import (
    Do,
    Wisconsin,
    complete_course,
    refused,
    user,
    wisconsin,
)

CE_CORE = "training:ce-core"
WORKFLOW_1 = "training:hmis-ce-workflow-1"
WORKFLOW_2 = "training:hmis-ce-workflow-2"
CE_CORE_COURSE = "WI-CE-CORE"
WORKFLOW_1_COURSE = "WI-HMIS-CE-WORKFLOW-1"
WORKFLOW_2_COURSE = "WI-HMIS-CE-WORKFLOW-2"
ROLE = "hmis-ce-user"
HMIS_ROLE = "CE_HMIS_User"
NEXT_VERSION_FROM = datetime(2026, 7, 1, tzinfo=UTC)  # 2026.2 (24-month renewal) takes over


@pytest.fixture
def do_policy(ledger: Ledger) -> Do:
    """Run a command with the policy in force deciding eligibility."""
    service = ComplianceService(ledger)

    def _do(command: Command) -> Receipt:
        return run(ledger, command, CALLER, service)

    return _do


@pytest.fixture
def w(do: Do) -> Wisconsin:
    """WI-500 with both bundled versions adopted (2026.1 is in force until 2026-07-01)."""
    world = wisconsin(do)
    do(AdoptPolicy(coc=world.coc, version="2026.1"))
    do(AdoptPolicy(coc=world.coc, version="2026.2"))
    return world


# --- helpers -----------------------------------------------------------------------------------


def evaluate(
    ledger: Ledger, w: Wisconsin, at: datetime, roles: tuple[str, ...] | None = (ROLE,)
) -> Evaluation:
    return ComplianceService(ledger).evaluate_user(w.coc, w.user, at, roles=roles)


def states(evaluation: Evaluation) -> dict[str, State]:
    return {c.clause: c.state for c in evaluation.clauses}


def reason(evaluation: Evaluation, clause: str) -> str:
    return evaluation.status(clause).reason


def evidence(evaluation: Evaluation, clause: str) -> Evidence:
    [only] = evaluation.status(clause).evidence
    return only


def last_completion(ledger: Ledger, w: Wisconsin) -> EndUser.CourseCompleted:
    done = user(ledger, w.coc, w.user).last(EndUser.CourseCompleted)
    assert done is not None
    return done


def issue(w: Wisconsin) -> IssueCredentials:
    return IssueCredentials(coc=w.coc, user_ref=w.user, hmis_role=HMIS_ROLE)


def refused_by_policy(ledger: Ledger, do_policy: Do, w: Wisconsin) -> list[str]:
    err = refused(ledger, do_policy, issue(w), "policy/eligible-for-role")
    missing: list[str] = err.details["missing"]
    return missing


def one_year(moment: datetime) -> datetime:
    return moment.replace(year=moment.year + 1)


# --- the walk from nothing to the HMIS CE role -------------------------------------------------


def test_a_ce_user_walks_from_nothing_to_hmis_ce_credentials(
    ledger: Ledger, do: Do, do_policy: Do, w: Wisconsin, clock: FixedClock
) -> None:
    # step 0: registered with the agency, nothing asked for: only the base clause applies
    e = evaluate(ledger, w, clock.now(), roles=None)
    assert (e.policy.version, e.policy.what_if) == ("2026.1", False)
    assert e.roles == ()
    assert e.overall is Overall.NON_COMPLIANT
    assert states(e) == {CE_CORE: State.MISSING}
    assert reason(e, CE_CORE) == f"missing: complete one of {CE_CORE_COURSE}"
    assert e.access is None
    assert e.next_change == NEXT_VERSION_FROM

    # step 1: the agency asks for the HMIS CE role
    clock.advance(timedelta(days=1))
    do(RequestRole(coc=w.coc, user_ref=w.user, role=ROLE))
    e = evaluate(ledger, w, clock.now(), roles=None)
    assert e.roles == (ROLE,)
    assert e.overall is Overall.NON_COMPLIANT
    assert states(e) == dict.fromkeys([CE_CORE, WORKFLOW_1, WORKFLOW_2], State.MISSING)
    assert reason(e, WORKFLOW_1) == (
        f"missing: complete one of {WORKFLOW_1_COURSE} (after {CE_CORE})"
    )
    assert reason(e, WORKFLOW_2) == (
        f"missing: complete one of {WORKFLOW_2_COURSE} (after {CE_CORE}, {WORKFLOW_1})"
    )

    # step 2: the CoC's CE training
    clock.advance(timedelta(days=1))
    complete_course(do, w.coc, w.user, CE_CORE_COURSE)
    core_done = clock.now()
    e = evaluate(ledger, w, clock.now(), roles=None)
    assert e.overall is Overall.NON_COMPLIANT
    assert states(e) == {
        CE_CORE: State.SATISFIED,
        WORKFLOW_1: State.MISSING,
        WORKFLOW_2: State.MISSING,
    }
    assert evidence(e, CE_CORE) == Evidence(
        last_completion(ledger, w).event_id, core_done, f"completed {CE_CORE_COURSE}"
    )
    assert e.status(CE_CORE).valid_until == one_year(core_done)  # 12 months under 2026.1
    assert reason(e, WORKFLOW_1) == f"missing: complete one of {WORKFLOW_1_COURSE}"
    assert reason(e, WORKFLOW_2).endswith(f"(after {WORKFLOW_1})")
    assert e.next_change == NEXT_VERSION_FROM  # sooner than the renewal

    # step 3: HMIS CE Workflow part 1
    clock.advance(timedelta(days=1))
    complete_course(do, w.coc, w.user, WORKFLOW_1_COURSE)
    e = evaluate(ledger, w, clock.now(), roles=None)
    assert e.overall is Overall.NON_COMPLIANT
    assert e.unmet() == [WORKFLOW_2]
    assert evidence(e, WORKFLOW_1) == Evidence(
        last_completion(ledger, w).event_id, clock.now(), f"completed {WORKFLOW_1_COURSE}"
    )
    assert e.status(WORKFLOW_1).valid_until is None  # ICA's courses do not expire
    assert reason(e, WORKFLOW_2) == f"missing: complete one of {WORKFLOW_2_COURSE}"
    assert e.access is None

    # step 4: HMIS CE Workflow part 2
    clock.advance(timedelta(days=1))
    complete_course(do, w.coc, w.user, WORKFLOW_2_COURSE)
    e = evaluate(ledger, w, clock.now(), roles=None)
    assert e.overall is Overall.COMPLIANT
    assert set(states(e).values()) == {State.SATISFIED}
    assert evidence(e, WORKFLOW_2).what == f"completed {WORKFLOW_2_COURSE}"
    assert e.access is not None
    assert (e.access.role, e.access.hmis_role) == (ROLE, HMIS_ROLE)
    assert e.access.permissions == (
        "add-households-to-ce-list",
        "fill-program-openings",
        "accept-prioritized-referrals",
    )

    # step 5: credentials, with the policy enforced
    clock.advance(timedelta(hours=3))
    do_policy(issue(w))
    e = evaluate(ledger, w, clock.now(), roles=None)
    subject = user(ledger, w.coc, w.user)
    assert (subject.credentials, subject.hmis_role) == (CredentialState.ACTIVE, HMIS_ROLE)
    assert e.overall is Overall.COMPLIANT
    assert e.findings == ()
    assert e.status(CE_CORE).valid_until == one_year(core_done)
    assert e.next_change == NEXT_VERSION_FROM


# --- training:ce-core --------------------------------------------------------------------------


def test_an_expired_ce_core_training_is_the_only_thing_missing(
    ledger: Ledger, do: Do, do_policy: Do, w: Wisconsin, clock: FixedClock
) -> None:
    core_done = datetime(2025, 2, 2, 15, 0, tzinfo=UTC)
    complete_course(do, w.coc, w.user, CE_CORE_COURSE, core_done)
    complete_course(do, w.coc, w.user, WORKFLOW_1_COURSE, core_done + timedelta(days=1))
    complete_course(do, w.coc, w.user, WORKFLOW_2_COURSE, core_done + timedelta(days=2))

    e = evaluate(ledger, w, clock.now())

    assert e.unmet() == [CE_CORE]
    assert e.status(CE_CORE).state is State.EXPIRED
    assert e.status(CE_CORE).expired_since == one_year(core_done)
    assert reason(e, CE_CORE).endswith("expired on 2026-02-02; complete it again")
    assert e.overall is Overall.NON_COMPLIANT
    assert refused_by_policy(ledger, do_policy, w) == [CE_CORE]


def test_completing_the_ce_core_training_again_renews_it(
    ledger: Ledger, do: Do, do_policy: Do, w: Wisconsin, clock: FixedClock
) -> None:
    core_done = datetime(2025, 2, 2, 15, 0, tzinfo=UTC)
    complete_course(do, w.coc, w.user, CE_CORE_COURSE, core_done)
    complete_course(do, w.coc, w.user, WORKFLOW_1_COURSE, core_done + timedelta(days=1))
    complete_course(do, w.coc, w.user, WORKFLOW_2_COURSE, core_done + timedelta(days=2))

    complete_course(do, w.coc, w.user, CE_CORE_COURSE)
    e = evaluate(ledger, w, clock.now())

    assert e.overall is Overall.COMPLIANT
    assert e.status(CE_CORE).valid_until == one_year(clock.now())
    do_policy(issue(w))


# --- training:hmis-ce-workflow-1 ---------------------------------------------------------------


def test_workflow_part_one_before_the_ce_core_training_is_the_only_thing_missing(
    ledger: Ledger, do: Do, do_policy: Do, w: Wisconsin, clock: FixedClock
) -> None:
    complete_course(do, w.coc, w.user, WORKFLOW_1_COURSE, clock.now() - timedelta(days=3))
    complete_course(do, w.coc, w.user, CE_CORE_COURSE, clock.now() - timedelta(days=2))
    complete_course(do, w.coc, w.user, WORKFLOW_2_COURSE, clock.now() - timedelta(days=1))

    e = evaluate(ledger, w, clock.now())

    assert e.unmet() == [WORKFLOW_1]
    assert reason(e, WORKFLOW_1) == (
        "out of order: Coordinated Entry in HMIS Part 1: Adding Households to the Coordinated "
        "Entry System on 2026-02-27 came before training:ce-core on 2026-02-28; do it again after"
    )
    assert refused_by_policy(ledger, do_policy, w) == [WORKFLOW_1]


# --- training:hmis-ce-workflow-2 ---------------------------------------------------------------


def test_a_missing_workflow_part_two_is_the_only_thing_missing(
    ledger: Ledger, do: Do, do_policy: Do, w: Wisconsin, clock: FixedClock
) -> None:
    complete_course(do, w.coc, w.user, CE_CORE_COURSE, clock.now() - timedelta(days=2))
    complete_course(do, w.coc, w.user, WORKFLOW_1_COURSE, clock.now() - timedelta(days=1))

    e = evaluate(ledger, w, clock.now())

    assert e.unmet() == [WORKFLOW_2]
    assert reason(e, WORKFLOW_2) == f"missing: complete one of {WORKFLOW_2_COURSE}"
    assert refused_by_policy(ledger, do_policy, w) == [WORKFLOW_2]


def test_workflow_part_two_before_part_one_is_the_only_thing_missing(
    ledger: Ledger, do: Do, do_policy: Do, w: Wisconsin, clock: FixedClock
) -> None:
    complete_course(do, w.coc, w.user, CE_CORE_COURSE, clock.now() - timedelta(days=3))
    complete_course(do, w.coc, w.user, WORKFLOW_2_COURSE, clock.now() - timedelta(days=2))
    complete_course(do, w.coc, w.user, WORKFLOW_1_COURSE, clock.now() - timedelta(days=1))

    e = evaluate(ledger, w, clock.now())

    assert e.unmet() == [WORKFLOW_2]
    assert reason(e, WORKFLOW_2).startswith("out of order: Coordinated Entry in HMIS Part 2")
    assert reason(e, WORKFLOW_2).endswith(
        f"came before {WORKFLOW_1} on 2026-03-01; do it again after"
    )
    assert refused_by_policy(ledger, do_policy, w) == [WORKFLOW_2]
