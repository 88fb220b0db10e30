"""MO-606 under its bundled policy pack (2026.1): a user and their agency walk from nothing to
HMIS access with the evaluation checked after every step, then each clause of the pack alone
missing, out of order and expired, and credentials issued over an override.

Credentials are issued through ``do_policy``, which runs commands with the compliance service
as the eligibility policy, as the API does."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from commands.agreements import SignAgreement, VoidAgreement
from commands.base import Command, Receipt
from commands.corrections import RetractEvent
from commands.end_users import ApproveAccessRequest, IssueCredentials, RequestRole, SignForm
from commands.hard_rules import MO_ASSESSOR_COURSE
from commands.organisations import AddRegion, AdoptPolicy, JoinRegion
from commands.registry import run
from ledger.application import Ledger
from ledger.clock import FixedClock
from ledger.domain.agreements import Agreement
from ledger.domain.base import LedgerAggregate, LedgerEvent
from ledger.domain.end_users import EndUser
from ledger.domain.vocabulary import CredentialState, FormKind, Party
from projections.compliance.results import Access, Evaluation, Overall, State
from projections.compliance.service import ComplianceService
from projections.compliance.timing import add_months
from tests.conftest import CALLER
from tests.integration.builders import (
    Do,
    Missouri,
    complete_course,
    missouri,
    mo_assessor_trained,
    mo_mou_drafted,
    mo_uar_submitted,
    refused,
    sign,
    user,
)

ASSESSOR = "training:ce-assessor"
MOU = "gate:ce-mou"
UAR = "milestone:access-request-approved"
USER_POLICY = "form:user-policy-responsibilities"
SECURITY = "training:security-privacy"
DATA_STANDARDS = "training:data-standards"
LEVEL_4 = "training:ce-level-4"
SECURITY_COURSE = "MO-SECURITY-PRIVACY"
DATA_STANDARDS_COURSE = "MO-DATA-STANDARDS"
LEVEL_4_COURSE = "MO-CE-LEVEL-4"
UAR_TITLE = "User Access Request (New User Request) approved by ICA"
HOUR = timedelta(hours=1)

S, M, B, X = State.SATISFIED, State.MISSING, State.BLOCKED, State.EXPIRED


@pytest.fixture
def do_policy(ledger: Ledger) -> Do:
    """Run a command with the policy in force deciding eligibility (as the API does)."""
    service = ComplianceService(ledger)

    def _do(command: Command) -> Receipt:
        return run(ledger, command, CALLER, service)

    return _do


@pytest.fixture
def w(ledger: Ledger, do: Do) -> Missouri:
    """MO-606 with its 2026.1 pack adopted, one region, its agencies and an untrained user."""
    world = missouri(do)
    do(AdoptPolicy(coc=world.coc, version="2026.1"))
    return world


# --- helpers -----------------------------------------------------------------------------------


def evaluate(ledger: Ledger, clock: FixedClock, w: Missouri, **kw: object) -> Evaluation:
    return ComplianceService(ledger).evaluate_user(w.coc, w.user, clock.now(), **kw)  # type: ignore[arg-type]


def states(evaluation: Evaluation) -> dict[str, State]:
    return {status.clause: status.state for status in evaluation.clauses}


def written_event_id(ledger: Ledger, cls: type[LedgerAggregate], receipt: Receipt) -> UUID:
    """The id of the (last) event a command wrote: what evidence points at."""
    aggregate = ledger.load(cls, receipt.entity_id)
    assert aggregate is not None
    version = receipt.events[-1].version
    return next(f.event_id for f in aggregate.facts(LedgerEvent) if f.originator_version == version)


def completion_id(ledger: Ledger, w: Missouri, course: str) -> UUID:
    facts = user(ledger, w.coc, w.user).facts(EndUser.CourseCompleted)
    return next(f.event_id for f in facts if f.course_code == course)


def mou_executed(do: Do, w: Missouri) -> Receipt:
    """The agency, the Regional CE Lead and the Lead Agency sign the region's MOU, in order."""
    mo_mou_drafted(do, w)
    sign(do, w.coc, w.mou, Party.AGENCY, "mo-exec-director")
    sign(do, w.coc, w.mou, Party.REGIONAL_CE_LEAD, "mo-regional-lead")
    return sign(do, w.coc, w.mou, Party.LEAD_AGENCY, "mo-lead-agency")


def uar_approved(do: Do, w: Missouri) -> Receipt:
    mo_uar_submitted(do, w)
    return do(ApproveAccessRequest(coc=w.coc, user_ref=w.user, request_ref="uar-1"))


def sign_user_policy(
    do: Do, w: Missouri, revision: str = "2024", effective_at: datetime | None = None
) -> Receipt:
    return do(
        SignForm(
            coc=w.coc,
            user_ref=w.user,
            form=FormKind.USER_POLICY_RESPONSIBILITIES,
            revision=revision,
            effective_at=effective_at,
        )
    )


def take(do: Do, w: Missouri, course: str, **kw: object) -> Receipt:
    return complete_course(do, w.coc, w.user, course, **kw)  # type: ignore[arg-type]


def walk(
    do: Do,
    clock: FixedClock,
    w: Missouri,
    *,
    roles: Iterable[str] = ("hmis-user",),
    leave_out: Iterable[str] = (),
) -> None:
    """Every step of the pack in its order, an hour apart, except the clauses ``leave_out``.
    The assessor training is always taken: the MOU and the UAR need it by hard rule."""
    skipped = set(leave_out)
    roles = list(roles)
    steps: list[tuple[str, Callable[[], object]]] = [
        (ASSESSOR, lambda: mo_assessor_trained(do, w)),
        (MOU, lambda: mou_executed(do, w)),
        (UAR, lambda: uar_approved(do, w)),
        (USER_POLICY, lambda: sign_user_policy(do, w)),
        (SECURITY, lambda: take(do, w, SECURITY_COURSE)),
        (DATA_STANDARDS, lambda: take(do, w, DATA_STANDARDS_COURSE)),
    ]
    if "ce-level-4" in roles:
        steps.append((LEVEL_4, lambda: take(do, w, LEVEL_4_COURSE)))
    for role in roles:
        do(RequestRole(coc=w.coc, user_ref=w.user, role=role))
    for clause, action in steps:
        if clause not in skipped:
            action()
            clock.advance(HOUR)


def issue(hmis_role: str = "end-user", override_reason: str | None = None) -> IssueCredentials:
    return IssueCredentials(
        coc=Missouri.coc,
        user_ref=Missouri.user,
        hmis_role=hmis_role,
        override_reason=override_reason,
    )


def refused_for(ledger: Ledger, do_policy: Do, hmis_role: str = "end-user") -> list[str]:
    """Issue credentials under the policy; expect the eligibility refusal; its missing list."""
    err = refused(ledger, do_policy, issue(hmis_role), "policy/eligible-for-role")
    missing: list[str] = err.details["missing"]
    return missing


# --- the scenario ------------------------------------------------------------------------------


def test_a_missouri_user_and_agency_go_from_nothing_to_hmis_access_with_reasons_at_every_step(
    ledger: Ledger, do: Do, do_policy: Do, clock: FixedClock, w: Missouri
) -> None:
    # Registered, no role requested: the base clauses only, and the MOU gate blocks.
    ev = evaluate(ledger, clock, w)
    assert ev.overall is Overall.BLOCKED
    assert states(ev) == {ASSESSOR: M, MOU: B}
    assert ev.status(ASSESSOR).reason == f"missing: complete one of {MO_ASSESSOR_COURSE}"
    assert ev.status(MOU).reason == "agency mo-harbor has no fully executed CE MOU for region r4"
    assert ev.status(MOU).blocked_by == (MOU,)
    assert (ev.roles, ev.access, ev.policy.version) == ((), None, "2026.1")

    # The user requests the HMIS user role: its clauses join, each waiting for its prerequisite.
    do(RequestRole(coc=w.coc, user_ref=w.user, role="hmis-user"))
    clock.advance(HOUR)
    ev = evaluate(ledger, clock, w)
    expected = {
        ASSESSOR: M,
        MOU: B,
        UAR: M,
        USER_POLICY: M,
        SECURITY: M,
        DATA_STANDARDS: M,
    }
    assert (ev.overall, states(ev), ev.roles) == (Overall.BLOCKED, expected, ("hmis-user",))
    assert ev.status(UAR).reason == f"missing: {UAR_TITLE} (after {ASSESSOR})"
    assert (
        ev.status(USER_POLICY).reason == "missing: sign user-policy-responsibilities revision 2024"
    )
    assert ev.status(SECURITY).reason == f"missing: complete one of {SECURITY_COURSE} (after {UAR})"
    assert ev.status(DATA_STANDARDS).reason == (
        f"missing: complete one of {DATA_STANDARDS_COURSE} (after {UAR})"
    )

    # CE Assessor Training in LITMOS: satisfied for twelve months; the UAR no longer waits.
    trained = mo_assessor_trained(do, w)
    trained_at = clock.now()
    clock.advance(HOUR)
    ev = evaluate(ledger, clock, w)
    expected[ASSESSOR] = S
    assert (ev.overall, states(ev)) == (Overall.BLOCKED, expected)
    [evidence] = ev.status(ASSESSOR).evidence
    assert evidence.event_id == written_event_id(ledger, EndUser, trained)
    assert evidence.what == f"completed {MO_ASSESSOR_COURSE}"
    assert ev.status(ASSESSOR).valid_until == add_months(trained_at, 12)
    assert ev.status(UAR).reason == f"missing: {UAR_TITLE}"
    assert ev.status(MOU).blocked_by == (MOU,)

    # The region's MOU: agency, then Regional CE Lead, then Lead Agency; blocked until all three.
    mo_mou_drafted(do, w)
    refused(
        ledger,
        do,
        SignAgreement(
            coc=w.coc, agreement_ref=w.mou, party=Party.LEAD_AGENCY, signatory="mo-lead-agency"
        ),
        "agreement/ce-mou/signing-order",
    )
    for party in (Party.AGENCY, Party.REGIONAL_CE_LEAD):
        sign(do, w.coc, w.mou, party, f"mo-{party}")
        clock.advance(HOUR)
        ev = evaluate(ledger, clock, w)
        assert (ev.overall, states(ev)) == (Overall.BLOCKED, expected)
        assert ev.status(MOU).reason == (
            "agency mo-harbor has no fully executed CE MOU for region r4"
        )
    executed = sign(do, w.coc, w.mou, Party.LEAD_AGENCY, "mo-lead-agency")
    clock.advance(HOUR)
    ev = evaluate(ledger, clock, w)
    expected[MOU] = S
    assert (ev.overall, states(ev)) == (Overall.NON_COMPLIANT, expected)
    [evidence] = ev.status(MOU).evidence
    assert evidence.event_id == written_event_id(ledger, Agreement, executed)
    assert evidence.what == "CE MOU region r4 executed"
    assert ev.status(MOU).blocked_by == ()

    # The Authorized Representative submits the UAR: nothing changes until ICA approves it.
    mo_uar_submitted(do, w)
    clock.advance(HOUR)
    ev = evaluate(ledger, clock, w)
    assert (ev.overall, states(ev)) == (Overall.NON_COMPLIANT, expected)
    assert ev.status(UAR).reason == f"missing: {UAR_TITLE}"

    approved = do(ApproveAccessRequest(coc=w.coc, user_ref=w.user, request_ref="uar-1"))
    clock.advance(HOUR)
    ev = evaluate(ledger, clock, w)
    expected[UAR] = S
    assert (ev.overall, states(ev)) == (Overall.NON_COMPLIANT, expected)
    [evidence] = ev.status(UAR).evidence
    assert (evidence.event_id, evidence.what) == (
        written_event_id(ledger, EndUser, approved),
        "access-request-approved",
    )
    assert ev.status(SECURITY).reason == f"missing: complete one of {SECURITY_COURSE}"
    assert ev.access is None

    # (a) the User Policy and Responsibilities form.
    signed = sign_user_policy(do, w)
    clock.advance(HOUR)
    ev = evaluate(ledger, clock, w)
    expected[USER_POLICY] = S
    assert (ev.overall, states(ev)) == (Overall.NON_COMPLIANT, expected)
    [evidence] = ev.status(USER_POLICY).evidence
    assert (evidence.event_id, evidence.what) == (
        written_event_id(ledger, EndUser, signed),
        "signed user-policy-responsibilities revision 2024",
    )

    # (b) Security & Privacy Awareness: no renewal under this version.
    security = take(do, w, SECURITY_COURSE)
    clock.advance(HOUR)
    ev = evaluate(ledger, clock, w)
    expected[SECURITY] = S
    assert (ev.overall, states(ev)) == (Overall.NON_COMPLIANT, expected)
    assert ev.status(SECURITY).evidence[0].event_id == written_event_id(ledger, EndUser, security)
    assert ev.status(SECURITY).valid_until is None
    assert ev.unmet() == [DATA_STANDARDS]

    # (c) Data Standards: every clause satisfied, the HMIS user role's access is appropriate.
    data = take(do, w, DATA_STANDARDS_COURSE)
    clock.advance(HOUR)
    ev = evaluate(ledger, clock, w)
    expected[DATA_STANDARDS] = S
    assert (ev.overall, states(ev)) == (Overall.COMPLIANT, expected)
    assert ev.status(DATA_STANDARDS).evidence[0].event_id == written_event_id(ledger, EndUser, data)
    role = next(r for r in ledger.packs.get("MO-606", "2026.1").pack.roles if r.id == "hmis-user")
    assert ev.access == Access("hmis-user", role.hmis_role, tuple(role.permissions))
    assert ev.unmet() == []
    assert ev.next_change == add_months(trained_at, 12)  # the assessor training's renewal

    # Credentials with the pack's HMIS role, under the policy: accepted, and the user is active.
    issued = do_policy(issue(role.hmis_role))
    clock.advance(HOUR)
    ev = evaluate(ledger, clock, w)
    assert user(ledger, w.coc, w.user).credentials is CredentialState.ACTIVE
    assert user(ledger, w.coc, w.user).hmis_role == "end-user"
    assert ev.overall is Overall.COMPLIANT
    assert states(ev) == {**expected, "inactivity:ladder": S}
    issued_at = clock.now() - HOUR
    assert ev.status("inactivity:ladder").valid_until == issued_at + timedelta(days=60)
    assert ev.next_change == issued_at + timedelta(days=60)  # the inactivity warning
    assert ev.findings == ()
    recorded = user(ledger, w.coc, w.user).last(EndUser.CredentialsIssued)
    assert recorded is not None
    assert recorded.event_id == written_event_id(ledger, EndUser, issued)
    assert (recorded.missing_at_issue, recorded.override_reason) == ([], None)


# --- the CE Assessor Training ------------------------------------------------------------------


def test_a_retracted_assessor_training_leaves_it_and_the_uar_that_must_follow_it_unmet(
    ledger: Ledger, do: Do, do_policy: Do, clock: FixedClock, w: Missouri
) -> None:
    """It cannot be the only thing missing: the UAR approval must come after it."""
    walk(do, clock, w)
    do(
        RetractEvent(
            coc=w.coc,
            entity_kind="user",
            entity_ref=w.user,
            event_id=completion_id(ledger, w, MO_ASSESSOR_COURSE),
            reason="certificate belonged to another person",
        )
    )

    ev = evaluate(ledger, clock, w)

    assert ev.unmet() == [ASSESSOR, UAR]
    assert ev.status(ASSESSOR).reason == f"missing: complete one of {MO_ASSESSOR_COURSE}"
    assert ev.status(UAR).reason == f"{UAR_TITLE} needs {ASSESSOR} first"
    assert ev.overall is Overall.NON_COMPLIANT
    assert ASSESSOR in refused_for(ledger, do_policy)


def test_an_expired_assessor_training_is_the_only_unmet_clause_and_refuses_credentials(
    ledger: Ledger, do: Do, do_policy: Do, clock: FixedClock, w: Missouri
) -> None:
    trained_at = clock.now()
    walk(do, clock, w)
    clock.set(add_months(trained_at, 12) + HOUR)

    ev = evaluate(ledger, clock, w)

    assert ev.unmet() == [ASSESSOR]
    status = ev.status(ASSESSOR)
    assert status.state is State.EXPIRED
    assert status.expired_since == add_months(trained_at, 12)
    assert status.reason == (
        f"CE Assessor Training (LITMOS) expired on {add_months(trained_at, 12).date()}; "
        "complete it again"
    )
    assert ev.overall is Overall.NON_COMPLIANT
    assert refused_for(ledger, do_policy) == [ASSESSOR]


def test_renewing_the_assessor_training_satisfies_it_for_twelve_months_from_the_renewal(
    ledger: Ledger, do: Do, clock: FixedClock, w: Missouri
) -> None:
    walk(do, clock, w)
    clock.set(add_months(clock.now(), 13))
    renewed = take(do, w, MO_ASSESSOR_COURSE)

    ev = evaluate(ledger, clock, w)

    assert ev.overall is Overall.COMPLIANT
    assert ev.status(ASSESSOR).evidence[0].event_id == written_event_id(ledger, EndUser, renewed)
    assert ev.status(ASSESSOR).valid_until == add_months(clock.now(), 12)


# --- the CE MOU gate ---------------------------------------------------------------------------


def test_a_missing_ce_mou_is_the_only_unmet_clause_and_blocks_the_user(
    ledger: Ledger, do: Do, do_policy: Do, clock: FixedClock, w: Missouri
) -> None:
    walk(do, clock, w, leave_out=[MOU])

    ev = evaluate(ledger, clock, w)

    assert ev.unmet() == [MOU]
    assert ev.overall is Overall.BLOCKED
    assert ev.status(MOU).blocked_by == (MOU,)
    assert ev.access is None
    assert refused_for(ledger, do_policy) == [MOU]


def test_voiding_the_mou_blocks_a_compliant_user_while_their_own_events_stay_untouched(
    ledger: Ledger, do: Do, clock: FixedClock, w: Missouri
) -> None:
    walk(do, clock, w)
    compliant_at = clock.now()
    before = user(ledger, w.coc, w.user)
    clock.advance(HOUR)
    do(VoidAgreement(coc=w.coc, agreement_ref=w.mou, reason="lead agency withdrew"))
    clock.advance(HOUR)

    ev = evaluate(ledger, clock, w)

    assert ev.overall is Overall.BLOCKED
    assert ev.unmet() == [MOU]
    assert ev.status(MOU).reason == "agency mo-harbor has no fully executed CE MOU for region r4"
    after = user(ledger, w.coc, w.user)
    assert after.version == before.version
    assert [f.event_id for f in after.facts(LedgerEvent)] == [
        f.event_id for f in before.facts(LedgerEvent)
    ]
    assert evaluate_at(ledger, w, compliant_at).overall is Overall.COMPLIANT  # history holds


def test_joining_a_region_without_its_mou_blocks_the_agency_users(
    ledger: Ledger, do: Do, clock: FixedClock, w: Missouri
) -> None:
    walk(do, clock, w)
    do(AddRegion(coc=w.coc, region="r5", region_name="Region Five", counties=["Cedar County"]))
    do(JoinRegion(coc=w.coc, agency_ref=w.agency, region="r5"))

    ev = evaluate(ledger, clock, w)

    assert ev.overall is Overall.BLOCKED
    assert ev.unmet() == [MOU]
    assert ev.status(MOU).reason == "agency mo-harbor has no fully executed CE MOU for region r5"


def evaluate_at(ledger: Ledger, w: Missouri, as_of: datetime) -> Evaluation:
    return ComplianceService(ledger).evaluate_user(w.coc, w.user, as_of)


# --- the UAR approval --------------------------------------------------------------------------


def test_without_uar_approval_the_steps_that_follow_it_cannot_count_and_the_hard_rule_refuses(
    ledger: Ledger, do: Do, do_policy: Do, clock: FixedClock, w: Missouri
) -> None:
    """Not the only thing missing: the form and both trainings must come after it."""
    walk(do, clock, w, leave_out=[UAR])

    ev = evaluate(ledger, clock, w)

    assert ev.unmet() == [UAR, USER_POLICY, SECURITY, DATA_STANDARDS]
    assert ev.status(UAR).reason == f"missing: {UAR_TITLE}"
    for clause in (USER_POLICY, SECURITY, DATA_STANDARDS):
        assert ev.status(clause).reason.endswith(f"needs {UAR} first")
    refused(ledger, do_policy, issue(), "MO-606/hmis-access/after-uar-approval")


def test_a_uar_approved_before_the_assessor_training_is_out_of_order(
    ledger: Ledger, do: Do, clock: FixedClock, w: Missouri
) -> None:
    walk(do, clock, w)
    trained_at = clock.now() + HOUR  # the certificate is dated after the approval
    do(
        RetractEvent(
            coc=w.coc,
            entity_kind="user",
            entity_ref=w.user,
            event_id=completion_id(ledger, w, MO_ASSESSOR_COURSE),
            reason="completion date entered wrongly",
        )
    )
    clock.advance(2 * HOUR)
    take(do, w, MO_ASSESSOR_COURSE, effective_at=trained_at)

    ev = evaluate(ledger, clock, w)

    assert ev.unmet() == [UAR]
    assert ev.status(UAR).reason.startswith(f"out of order: {UAR_TITLE} on ")
    assert ev.status(UAR).evidence[0].what == "too early"


# --- the form and the two trainings after the UAR ----------------------------------------------

AFTER_UAR = [USER_POLICY, SECURITY, DATA_STANDARDS]


@pytest.mark.parametrize("clause", AFTER_UAR)
def test_a_step_after_the_uar_left_out_is_the_only_unmet_clause_and_refuses_credentials(
    ledger: Ledger, do: Do, do_policy: Do, clock: FixedClock, w: Missouri, clause: str
) -> None:
    walk(do, clock, w, leave_out=[clause])

    ev = evaluate(ledger, clock, w)

    assert ev.unmet() == [clause]
    assert ev.status(clause).state is State.MISSING
    assert ev.status(clause).reason.startswith("missing: ")
    assert ev.overall is Overall.NON_COMPLIANT
    assert ev.access is None
    assert refused_for(ledger, do_policy) == [clause]


STEPS_AFTER_UAR: dict[str, Callable[[Do, Missouri], object]] = {
    USER_POLICY: lambda do, w: sign_user_policy(do, w),
    SECURITY: lambda do, w: take(do, w, SECURITY_COURSE),
    DATA_STANDARDS: lambda do, w: take(do, w, DATA_STANDARDS_COURSE),
}


@pytest.mark.parametrize("clause", AFTER_UAR)
def test_a_step_done_before_the_uar_approval_is_out_of_order(
    ledger: Ledger, do: Do, clock: FixedClock, w: Missouri, clause: str
) -> None:
    mo_assessor_trained(do, w)
    clock.advance(HOUR)
    STEPS_AFTER_UAR[clause](do, w)  # too early
    clock.advance(HOUR)
    walk(do, clock, w, leave_out=[ASSESSOR, clause])

    ev = evaluate(ledger, clock, w)

    assert ev.unmet() == [clause]
    status = ev.status(clause)
    assert status.state is State.MISSING
    assert status.reason.startswith("out of order: ")
    assert status.reason.endswith(f"came before {UAR} on {clock.now().date()}; do it again after")


def test_a_user_policy_form_of_an_older_revision_expired_when_this_version_took_effect(
    ledger: Ledger, do: Do, do_policy: Do, clock: FixedClock, w: Missouri
) -> None:
    walk(do, clock, w, leave_out=[USER_POLICY])
    sign_user_policy(do, w, revision="2023", effective_at=datetime(2025, 12, 1, tzinfo=UTC))

    ev = evaluate(ledger, clock, w)

    assert ev.unmet() == [USER_POLICY]
    status = ev.status(USER_POLICY)
    assert status.state is State.EXPIRED
    assert status.expired_since == datetime(2026, 1, 1, tzinfo=UTC)
    assert status.reason == (
        "signed revision 2023 of user-policy-responsibilities; revision 2024 requires signing again"
    )
    assert refused_for(ledger, do_policy) == [USER_POLICY]


def test_the_security_and_data_standards_trainings_do_not_expire_under_this_version(
    ledger: Ledger, do: Do, clock: FixedClock, w: Missouri
) -> None:
    walk(do, clock, w)

    ev = evaluate_at(ledger, w, clock.now() + timedelta(days=3 * 365))

    assert ev.unmet() == [ASSESSOR]  # only the annual CE training lapsed
    for clause in (SECURITY, DATA_STANDARDS):
        assert (ev.state_of(clause), ev.status(clause).valid_until) == (State.SATISFIED, None)


# --- CE Level 4 --------------------------------------------------------------------------------


def test_a_missing_level_4_training_is_the_only_unmet_clause_of_the_level_4_role(
    ledger: Ledger, do: Do, do_policy: Do, clock: FixedClock, w: Missouri
) -> None:
    walk(do, clock, w, roles=["ce-level-4"], leave_out=[LEVEL_4])

    ev = evaluate(ledger, clock, w)

    assert ev.unmet() == [LEVEL_4]
    assert ev.status(LEVEL_4).reason == f"missing: complete one of {LEVEL_4_COURSE}"
    assert refused_for(ledger, do_policy, "CE_Level_4") == [LEVEL_4]
    do_policy(issue("end-user"))  # the lower role's clauses are all met


def test_a_level_4_training_before_the_assessor_training_is_out_of_order(
    ledger: Ledger, do: Do, clock: FixedClock, w: Missouri
) -> None:
    take(do, w, LEVEL_4_COURSE)
    clock.advance(HOUR)
    walk(do, clock, w, roles=["ce-level-4"], leave_out=[LEVEL_4])

    ev = evaluate(ledger, clock, w)

    assert ev.unmet() == [LEVEL_4]
    assert ev.status(LEVEL_4).reason.startswith(
        "out of order: CE Access Point Level 4 training (list holders) on 2026-03-02 came before "
        f"{ASSESSOR} on 2026-03-02"
    )


def test_an_expired_level_4_training_is_the_only_unmet_clause_once_the_assessor_is_renewed(
    ledger: Ledger, do: Do, do_policy: Do, clock: FixedClock, w: Missouri
) -> None:
    walk(do, clock, w, roles=["ce-level-4"], leave_out=[LEVEL_4])
    level_4_at = clock.now()
    take(do, w, LEVEL_4_COURSE)
    clock.set(add_months(level_4_at, 12) - HOUR)
    take(do, w, MO_ASSESSOR_COURSE)  # renewed just before the level 4 training lapses
    clock.advance(2 * HOUR)

    ev = evaluate(ledger, clock, w)

    assert ev.unmet() == [LEVEL_4]
    assert ev.status(LEVEL_4).state is State.EXPIRED
    assert ev.status(LEVEL_4).expired_since == add_months(level_4_at, 12)
    assert ev.access is None  # the only role asked for is Level 4
    assert refused_for(ledger, do_policy, "CE_Level_4") == [LEVEL_4]


def test_a_list_holder_asking_for_both_roles_gets_the_higher_ce_level_4_access(
    ledger: Ledger, do: Do, clock: FixedClock, w: Missouri
) -> None:
    walk(do, clock, w, roles=["hmis-user", "ce-level-4"])

    ev = evaluate(ledger, clock, w)

    assert ev.overall is Overall.COMPLIANT
    assert ev.access == Access(
        "ce-level-4",
        "CE_Level_4",
        ("enter-project-data", "enter-ce-data", "hold-ce-prioritization-list"),
    )


# --- overrides ---------------------------------------------------------------------------------


def test_credentials_issued_over_an_override_are_recorded_and_shown_as_findings(
    ledger: Ledger, do: Do, do_policy: Do, clock: FixedClock, w: Missouri
) -> None:
    walk(do, clock, w, leave_out=[SECURITY, DATA_STANDARDS])
    reason = "point-in-time count needs the user this week"

    issued = do_policy(issue(override_reason=reason))

    ev = evaluate(ledger, clock, w)
    event_id = written_event_id(ledger, EndUser, issued)
    override, live = ev.findings
    assert (override.kind, override.event_id) == ("override", event_id)
    assert override.detail == (
        f"credentials issued despite missing {SECURITY}, {DATA_STANDARDS}: {reason}"
    )
    assert (live.kind, live.event_id) == ("credentials-while-not-compliant", event_id)
    assert live.detail == "live credentials while non-compliant"
    assert user(ledger, w.coc, w.user).credentials is CredentialState.ACTIVE
