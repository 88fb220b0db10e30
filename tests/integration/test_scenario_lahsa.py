"""CA-600 under its bundled policy pack (2026.1): an organisation (steps 1 and 2) and one of its
users (step 3) walk from nothing to HMIS access with the evaluation checked after every step,
then each clause of the pack alone missing, out of order and expired, the provisioning
deadline in business days, and credentials issued over an override.

Credentials are issued through ``do_policy``, which runs commands with the compliance service
as the eligibility policy, as the API does."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import pytest

from commands.agreements import DraftAgreement, ReviseAgreement, VoidAgreement
from commands.base import Command, Receipt
from commands.end_users import IssueCredentials, RequestRole, SignForm
from commands.organisations import (
    AdoptPolicy,
    ConfirmProgramSetUp,
    DeclareCesRoles,
    SetUpProgram,
)
from commands.registry import run
from ledger.application import Ledger
from ledger.clock import FixedClock
from ledger.domain.agreements import Agreement
from ledger.domain.base import LedgerAggregate, LedgerEvent
from ledger.domain.end_users import EndUser
from ledger.domain.organisations import Agency
from ledger.domain.vocabulary import (
    AgreementKind,
    CredentialState,
    FormKind,
    OrgCesRole,
    Party,
    ProgramType,
)
from projections.compliance.results import Access, Evaluation, Overall, State
from projections.compliance.service import ComplianceService
from tests.conftest import CALLER
from tests.integration.builders import (
    Do,
    Lahsa,
    complete_course,
    la_program_setup,
    lahsa,
    refused,
    sign,
    user,
)

ORG = "gate:org-agreement"
SETUP = "gate:program-setup-confirmed"
USER_AGREEMENT = "form:user-agreement"
ACK = "form:hmis10-acknowledgement"
HMIS_10 = "training:hmis-10"
HMIS_511 = "training:hmis-511"
HMIS_509_HALF = "training:hmis-509-first-half"
HMIS_509_FULL = "training:hmis-509-full"
HMIS_102 = "training:hmis-102"
HMIS_510 = "training:hmis-510"
DEADLINE = "deadline:provisioning"
INACTIVITY = "inactivity:ladder"
COURSE = {
    HMIS_10: "LA-HMIS-10",
    HMIS_511: "LA-HMIS-511",
    HMIS_509_HALF: "LA-HMIS-509-FIRST-HALF",
    HMIS_509_FULL: "LA-HMIS-509-FULL",
    HMIS_102: "LA-HMIS-102",
    HMIS_510: "LA-HMIS-510",
}
FORM = {USER_AGREEMENT: FormKind.USER_AGREEMENT, ACK: FormKind.HMIS10_ACKNOWLEDGEMENT}
ACK_TITLE = "HMIS 10 Acknowledgement Form"
NO_ORG_AGREEMENT = "agency la-canyon has no fully executed org-agreement"
NOT_CONFIRMED = "agency la-canyon: program set-up not confirmed"
HOUR = timedelta(hours=1)

S, M, B = State.SATISFIED, State.MISSING, State.BLOCKED


@pytest.fixture
def do_policy(ledger: Ledger) -> Do:
    """Run a command with the policy in force deciding eligibility (as the API does)."""
    service = ComplianceService(ledger)

    def _do(command: Command) -> Receipt:
        return run(ledger, command, CALLER, service)

    return _do


@pytest.fixture
def w(ledger: Ledger, do: Do) -> Lahsa:
    """CA-600 with its 2026.1 pack adopted and one organisation with one new user."""
    world = lahsa(do)
    do(AdoptPolicy(coc=world.coc, version="2026.1"))
    return world


# --- helpers -----------------------------------------------------------------------------------


def evaluate(ledger: Ledger, w: Lahsa, as_of: datetime) -> Evaluation:
    return ComplianceService(ledger).evaluate_user(w.coc, w.user, as_of)


def states(evaluation: Evaluation) -> dict[str, State]:
    return {status.clause: status.state for status in evaluation.clauses}


def written_event_id(ledger: Ledger, cls: type[LedgerAggregate], receipt: Receipt) -> UUID:
    """The id of the (last) event a command wrote: what evidence points at."""
    aggregate = ledger.load(cls, receipt.entity_id)
    assert aggregate is not None
    version = receipt.events[-1].version
    return next(f.event_id for f in aggregate.facts(LedgerEvent) if f.originator_version == version)


def draft_org_agreement(do: Do, w: Lahsa) -> Receipt:
    return do(
        DraftAgreement(
            coc=w.coc,
            agreement_kind=AgreementKind.ORGANIZATION_AGREEMENT,
            agency_ref=w.agency,
            revision="2026-1",
        )
    )


def org_agreement_executed(do: Do, w: Lahsa) -> Receipt:
    """Step 1: the Executive Director signs, then the CoC Representative section is done."""
    draft_org_agreement(do, w)
    sign(do, w.coc, w.org_agreement, Party.AGENCY, "la-exec-director")
    return sign(do, w.coc, w.org_agreement, Party.COC_REPRESENTATIVE, "la-coc-rep")


def confirm_setup(do: Do, w: Lahsa) -> Receipt:
    return do(ConfirmProgramSetUp(coc=w.coc, agency_ref=w.agency, confirmed_by="la-hmis-admin"))


def program_setup_confirmed(do: Do, w: Lahsa) -> Receipt:
    """Step 2: CES roles and a program declared, then confirmed by LAHSA."""
    la_program_setup(do, w, confirm=False)
    return confirm_setup(do, w)


def sign_form(
    do: Do, w: Lahsa, clause: str, revision: str = "2025", effective_at: datetime | None = None
) -> Receipt:
    return do(
        SignForm(
            coc=w.coc,
            user_ref=w.user,
            form=FORM[clause],
            revision=revision,
            effective_at=effective_at,
        )
    )


def take(do: Do, w: Lahsa, clause: str, **kw: object) -> Receipt:
    return complete_course(do, w.coc, w.user, COURSE[clause], **kw)  # type: ignore[arg-type]


def walk(
    ledger: Ledger,
    do: Do,
    clock: FixedClock,
    w: Lahsa,
    *,
    roles: Iterable[str] = ("assessment-only",),
    leave_out: Iterable[str] = (),
) -> None:
    """Steps 1-3 for ``roles`` (the clauses the pack lists for them), an hour apart, except the
    clauses ``leave_out``."""
    roles = list(roles)
    pack = ledger.packs.get(w.coc, "2026.1").pack
    needed = set(pack.base).union(*(r.requires for r in pack.roles if r.id in roles))
    skipped = set(leave_out)
    steps: list[tuple[str, Callable[[], object]]] = [
        (ORG, lambda: org_agreement_executed(do, w)),
        (SETUP, lambda: program_setup_confirmed(do, w)),
        (USER_AGREEMENT, lambda: sign_form(do, w, USER_AGREEMENT)),
        (HMIS_10, lambda: take(do, w, HMIS_10)),
        (ACK, lambda: sign_form(do, w, ACK)),
    ]
    steps += [(c, lambda c=c: take(do, w, c)) for c in COURSE if c != HMIS_10]  # type: ignore[misc]
    for role in roles:
        do(RequestRole(coc=w.coc, user_ref=w.user, role=role))
    for clause, action in steps:
        if clause in needed and clause not in skipped:
            action()
            clock.advance(HOUR)


def issue(hmis_role: str = "CES_Assessments", override_reason: str | None = None) -> Command:
    return IssueCredentials(
        coc=Lahsa.coc, user_ref=Lahsa.user, hmis_role=hmis_role, override_reason=override_reason
    )


def refused_for(ledger: Ledger, do_policy: Do, hmis_role: str = "CES_Assessments") -> list[str]:
    """Issue credentials under the policy; expect the eligibility refusal; its missing list."""
    err = refused(ledger, do_policy, issue(hmis_role), "policy/eligible-for-role")
    missing: list[str] = err.details["missing"]
    return missing


def missing_for(ledger: Ledger, w: Lahsa, hmis_role: str, as_of: datetime) -> list[str]:
    return ComplianceService(ledger).missing_for(user(ledger, w.coc, w.user), hmis_role, as_of)


# --- the scenario ------------------------------------------------------------------------------


def test_a_lahsa_organisation_and_user_go_from_nothing_to_the_highest_appropriate_access(
    ledger: Ledger, do: Do, do_policy: Do, clock: FixedClock, w: Lahsa
) -> None:
    def now() -> Evaluation:
        clock.advance(HOUR)
        return evaluate(ledger, w, clock.now())

    # Registered: steps 1 and 2 block every user of the organisation; the User Agreement waits.
    ev = evaluate(ledger, w, clock.now())
    expected = {ORG: B, SETUP: B, USER_AGREEMENT: M}
    assert (ev.overall, states(ev), ev.roles) == (Overall.BLOCKED, expected, ())
    assert (ev.status(ORG).reason, ev.status(ORG).blocked_by) == (NO_ORG_AGREEMENT, (ORG,))
    assert (ev.status(SETUP).reason, ev.status(SETUP).blocked_by) == (NOT_CONFIRMED, (SETUP,))
    assert ev.status(USER_AGREEMENT).reason == "missing: sign user-agreement revision 2025"

    # The user asks for two CES roles: the trainings and forms of both join.
    do(RequestRole(coc=w.coc, user_ref=w.user, role="assessment-only"))
    do(RequestRole(coc=w.coc, user_ref=w.user, role="housing-provider"))
    ev = now()
    expected |= {HMIS_10: M, ACK: M, HMIS_511: M, HMIS_509_HALF: M}
    assert (ev.overall, states(ev)) == (Overall.BLOCKED, expected)
    assert ev.roles == ("assessment-only", "housing-provider")
    assert ev.status(HMIS_10).reason == "missing: complete one of LA-HMIS-10"
    assert ev.status(ACK).reason == "missing: sign hmis10-acknowledgement revision 2025"
    assert ev.status(HMIS_511).reason == "missing: complete one of LA-HMIS-511"
    assert ev.status(HMIS_509_HALF).reason == (
        "missing: complete one of LA-HMIS-509-FIRST-HALF, LA-HMIS-509-FULL"
    )

    # Step 1: the organisation signs; blocked until the CoC Representative section is done.
    draft_org_agreement(do, w)
    sign(do, w.coc, w.org_agreement, Party.AGENCY, "la-exec-director")
    ev = now()
    assert (ev.overall, states(ev)) == (Overall.BLOCKED, expected)
    assert ev.status(ORG).reason == NO_ORG_AGREEMENT
    executed = sign(do, w.coc, w.org_agreement, Party.COC_REPRESENTATIVE, "la-coc-rep")
    ev = now()
    expected[ORG] = S
    assert (ev.overall, states(ev)) == (Overall.BLOCKED, expected)
    [evidence] = ev.status(ORG).evidence
    assert evidence.event_id == written_event_id(ledger, Agreement, executed)
    assert evidence.what == "org-agreement executed"
    assert ev.status(SETUP).blocked_by == (SETUP,)

    # Step 2: CES roles and a program; blocked until LAHSA confirms the set-up.
    do(
        DeclareCesRoles(
            coc=w.coc,
            agency_ref=w.agency,
            roles=[OrgCesRole.ASSESSMENT_ONLY, OrgCesRole.HOUSING_PROVIDER],
        )
    )
    ev = now()
    assert (ev.overall, states(ev)) == (Overall.BLOCKED, expected)
    do(
        SetUpProgram(
            coc=w.coc,
            agency_ref=w.agency,
            program_ref="prog-1",
            program_type=ProgramType.ASSESSMENT_ONLY,
            program_name="Synthetic Access",
        )
    )
    ev = now()
    assert (ev.overall, states(ev)) == (Overall.BLOCKED, expected)
    assert ev.status(SETUP).reason == NOT_CONFIRMED
    confirmed = confirm_setup(do, w)
    ev = now()
    expected[SETUP] = S
    assert (ev.overall, states(ev)) == (Overall.NON_COMPLIANT, expected)
    [evidence] = ev.status(SETUP).evidence
    assert (evidence.event_id, evidence.what) == (
        written_event_id(ledger, Agency, confirmed),
        "program set-up confirmed",
    )

    # Step 3: the User Agreement.
    signed = sign_form(do, w, USER_AGREEMENT)
    ev = now()
    expected[USER_AGREEMENT] = S
    assert (ev.overall, states(ev)) == (Overall.NON_COMPLIANT, expected)
    [evidence] = ev.status(USER_AGREEMENT).evidence
    assert (evidence.event_id, evidence.what) == (
        written_event_id(ledger, EndUser, signed),
        "signed user-agreement revision 2025",
    )

    # HMIS 511: the housing-provider role is complete and is the access so far.
    hmis_511 = take(do, w, HMIS_511)
    ev = now()
    expected[HMIS_511] = S
    assert (ev.overall, states(ev)) == (Overall.NON_COMPLIANT, expected)
    assert ev.status(HMIS_511).evidence[0].event_id == written_event_id(ledger, EndUser, hmis_511)
    assert ev.access == Access(
        "housing-provider",
        "CES_Housing_Provider",
        ("view-housing-resource-list", "manage-housing-resource-list", "enter-vacancy-form"),
    )

    # HMIS 10, then its acknowledgement form.
    hmis_10 = take(do, w, HMIS_10)
    ev = now()
    expected[HMIS_10] = S
    assert (ev.overall, states(ev)) == (Overall.NON_COMPLIANT, expected)
    assert ev.status(HMIS_10).evidence[0].event_id == written_event_id(ledger, EndUser, hmis_10)
    assert ev.status(ACK).reason == "missing: sign hmis10-acknowledgement revision 2025"

    ack = sign_form(do, w, ACK)
    ev = now()
    expected[ACK] = S
    assert (ev.overall, states(ev)) == (Overall.NON_COMPLIANT, expected)
    assert ev.status(ACK).evidence[0].event_id == written_event_id(ledger, EndUser, ack)
    assert ev.unmet() == [HMIS_509_HALF]

    # HMIS 509 first half on Thursday: everything done; LAHSA owes access within 3 business
    # days, which skip the weekend (Fri 6, Mon 9, Tue 10 March).
    clock.set(datetime(2026, 3, 5, 16, 0, tzinfo=UTC))
    hmis_509 = take(do, w, HMIS_509_HALF)
    ev = now()
    expected[HMIS_509_HALF] = S
    assert (ev.overall, states(ev)) == (Overall.PENDING, {**expected, DEADLINE: State.PENDING})
    assert ev.status(HMIS_509_HALF).evidence[0].event_id == written_event_id(
        ledger, EndUser, hmis_509
    )
    deadline = ev.status(DEADLINE)
    assert deadline.deadline == date(2026, 3, 10)
    assert deadline.reason == "access due within 3 business days of 2026-03-05"
    assert ev.next_change == datetime(2026, 3, 11, tzinfo=UTC)
    assert ev.unmet() == []
    # Highest appropriate access: assessment-only (rank 20) over housing-provider (rank 10).
    assert ev.access == Access("assessment-only", "CES_Assessments", ("enter-ces-survey",))

    # Monday: the HMIS lead issues the higher role's credentials under the policy.
    clock.set(datetime(2026, 3, 9, 10, 0, tzinfo=UTC))
    issued = do_policy(issue("CES_Assessments"))
    ev = now()
    assert user(ledger, w.coc, w.user).credentials is CredentialState.ACTIVE
    assert user(ledger, w.coc, w.user).hmis_role == "CES_Assessments"
    assert ev.overall is Overall.COMPLIANT
    assert states(ev) == {**expected, DEADLINE: S, INACTIVITY: S}
    [evidence] = ev.status(DEADLINE).evidence
    assert (ev.status(DEADLINE).reason, evidence.event_id) == (
        "credentials issued",
        written_event_id(ledger, EndUser, issued),
    )
    assert ev.next_change == datetime(2026, 4, 8, 10, 0, tzinfo=UTC)  # 30 days: the warning
    assert ev.access is not None
    assert ev.access.role == "assessment-only"
    assert ev.findings == ()


# --- the provisioning deadline -----------------------------------------------------------------


def test_provisioning_is_overdue_after_three_business_days_across_a_weekend(
    ledger: Ledger, do: Do, do_policy: Do, clock: FixedClock, w: Lahsa
) -> None:
    walk(ledger, do, clock, w, leave_out=[HMIS_509_HALF])
    clock.set(datetime(2026, 3, 6, 11, 0, tzinfo=UTC))  # Friday
    take(do, w, HMIS_509_HALF)

    on_the_day = evaluate(ledger, w, datetime(2026, 3, 11, 23, 0, tzinfo=UTC))
    day_after = evaluate(ledger, w, datetime(2026, 3, 12, 9, 0, tzinfo=UTC))

    assert on_the_day.status(DEADLINE).deadline == date(2026, 3, 11)  # Mon 9, Tue 10, Wed 11
    assert (on_the_day.state_of(DEADLINE), on_the_day.overall) == (State.PENDING, Overall.PENDING)
    assert (day_after.state_of(DEADLINE), day_after.overall) == (
        State.OVERDUE,
        Overall.NON_COMPLIANT,
    )
    assert day_after.unmet() == []  # the lead is late, not the user


def test_provisioning_skips_a_federal_holiday(
    ledger: Ledger, do: Do, clock: FixedClock, w: Lahsa
) -> None:
    walk(ledger, do, clock, w, leave_out=[HMIS_509_HALF])
    clock.set(datetime(2026, 5, 22, 11, 0, tzinfo=UTC))  # Friday before Memorial Day (25 May)
    take(do, w, HMIS_509_HALF)

    ev = evaluate(ledger, w, clock.now())

    assert ev.status(DEADLINE).deadline == date(2026, 5, 28)  # Tue 26, Wed 27, Thu 28
    assert evaluate(ledger, w, datetime(2026, 5, 29, tzinfo=UTC)).state_of(DEADLINE) is (
        State.OVERDUE
    )


# --- the Organization Agreement gate -----------------------------------------------------------


def test_a_missing_org_agreement_is_the_only_unmet_clause_and_blocks_the_user(
    ledger: Ledger, do: Do, do_policy: Do, clock: FixedClock, w: Lahsa
) -> None:
    walk(ledger, do, clock, w, leave_out=[ORG])

    ev = evaluate(ledger, w, clock.now())

    assert ev.unmet() == [ORG]
    assert (ev.overall, ev.status(ORG).blocked_by) == (Overall.BLOCKED, (ORG,))
    assert ev.access is None
    assert DEADLINE not in states(ev)
    assert missing_for(ledger, w, "CES_Assessments", clock.now()) == [ORG]
    # the hard rule of step 1 answers first, before the policy is asked
    refused(ledger, do_policy, issue(), "CA-600/step-1/organization-agreement")


def test_voiding_the_org_agreement_blocks_a_compliant_user_while_their_own_events_stay_untouched(
    ledger: Ledger, do: Do, do_policy: Do, clock: FixedClock, w: Lahsa
) -> None:
    walk(ledger, do, clock, w)
    do_policy(issue())
    compliant_at = clock.now()
    before = user(ledger, w.coc, w.user)
    clock.advance(HOUR)
    do(VoidAgreement(coc=w.coc, agreement_ref=w.org_agreement, reason="signed by wrong office"))
    clock.advance(HOUR)

    ev = evaluate(ledger, w, clock.now())

    assert ev.overall is Overall.BLOCKED
    assert ev.unmet() == [ORG]
    assert ev.status(ORG).reason == NO_ORG_AGREEMENT
    assert [f.kind for f in ev.findings] == ["credentials-while-not-compliant"]
    after = user(ledger, w.coc, w.user)
    assert after.version == before.version
    assert [f.event_id for f in after.facts(LedgerEvent)] == [
        f.event_id for f in before.facts(LedgerEvent)
    ]
    assert evaluate(ledger, w, compliant_at).overall is Overall.COMPLIANT  # history holds


def test_a_new_org_agreement_revision_blocks_until_signed_again_without_retraining_users(
    ledger: Ledger, do: Do, clock: FixedClock, w: Lahsa
) -> None:
    walk(ledger, do, clock, w)
    trainings = user(ledger, w.coc, w.user).version
    do(
        ReviseAgreement(
            coc=w.coc, agreement_ref=w.org_agreement, revision="2026-2", reason="new terms"
        )
    )
    clock.advance(HOUR)
    assert evaluate(ledger, w, clock.now()).unmet() == [ORG]

    sign(do, w.coc, w.org_agreement, Party.AGENCY, "la-exec-director")  # same moment
    resigned = sign(do, w.coc, w.org_agreement, Party.COC_REPRESENTATIVE, "la-coc-rep")
    clock.advance(HOUR)
    ev = evaluate(ledger, w, clock.now())

    assert ev.unmet() == []
    assert ev.status(ORG).evidence[0].event_id == written_event_id(ledger, Agreement, resigned)
    assert user(ledger, w.coc, w.user).version == trainings


def test_the_gate_evidence_is_the_signature_that_completed_the_agreement_at_the_same_moment(
    ledger: Ledger, do: Do, clock: FixedClock, w: Lahsa
) -> None:
    completed = org_agreement_executed(do, w)  # both parties sign with the same effective time

    ev = evaluate(ledger, w, clock.now())

    assert ev.status(ORG).evidence[0].event_id == written_event_id(ledger, Agreement, completed)


def test_trainings_taken_before_the_organisation_gates_count_once_the_gates_close(
    ledger: Ledger, do: Do, clock: FixedClock, w: Lahsa
) -> None:
    walk(ledger, do, clock, w, leave_out=[ORG, SETUP])
    org_agreement_executed(do, w)
    program_setup_confirmed(do, w)
    clock.advance(HOUR)

    ev = evaluate(ledger, w, clock.now())

    assert ev.unmet() == []
    assert ev.overall is Overall.PENDING  # only the lead's provisioning deadline runs


# --- the program set-up gate -------------------------------------------------------------------


def test_an_unconfirmed_program_setup_is_the_only_unmet_clause_and_blocks_the_user(
    ledger: Ledger, do: Do, do_policy: Do, clock: FixedClock, w: Lahsa
) -> None:
    walk(ledger, do, clock, w, leave_out=[SETUP])

    ev = evaluate(ledger, w, clock.now())

    assert ev.unmet() == [SETUP]
    assert (ev.overall, ev.status(SETUP).blocked_by) == (Overall.BLOCKED, (SETUP,))
    assert ev.status(SETUP).reason == NOT_CONFIRMED
    assert missing_for(ledger, w, "CES_Assessments", clock.now()) == [SETUP]
    refused(ledger, do_policy, issue(), "CA-600/step-2/program-setup")


def test_an_unconfirmed_program_change_blocks_a_compliant_user(
    ledger: Ledger, do: Do, clock: FixedClock, w: Lahsa
) -> None:
    walk(ledger, do, clock, w)
    before = user(ledger, w.coc, w.user).version
    do(
        SetUpProgram(
            coc=w.coc,
            agency_ref=w.agency,
            program_ref="prog-2",
            program_type=ProgramType.OUTREACH,
            program_name="Synthetic Street Team",
        )
    )
    clock.advance(HOUR)

    ev = evaluate(ledger, w, clock.now())

    assert ev.overall is Overall.BLOCKED
    assert ev.unmet() == [SETUP]
    assert user(ledger, w.coc, w.user).version == before


# --- the User Agreement ------------------------------------------------------------------------


def test_a_missing_user_agreement_is_the_only_unmet_clause_and_refuses_credentials(
    ledger: Ledger, do: Do, do_policy: Do, clock: FixedClock, w: Lahsa
) -> None:
    walk(ledger, do, clock, w, leave_out=[USER_AGREEMENT])

    ev = evaluate(ledger, w, clock.now())

    assert ev.unmet() == [USER_AGREEMENT]
    assert ev.status(USER_AGREEMENT).reason == "missing: sign user-agreement revision 2025"
    assert ev.overall is Overall.NON_COMPLIANT
    assert refused_for(ledger, do_policy) == [USER_AGREEMENT]


def test_a_user_agreement_of_an_older_revision_expired_when_this_version_took_effect(
    ledger: Ledger, do: Do, do_policy: Do, clock: FixedClock, w: Lahsa
) -> None:
    walk(ledger, do, clock, w, leave_out=[USER_AGREEMENT])
    sign_form(do, w, USER_AGREEMENT, revision="2024", effective_at=datetime(2025, 6, 1, tzinfo=UTC))

    ev = evaluate(ledger, w, clock.now())

    assert ev.unmet() == [USER_AGREEMENT]
    status = ev.status(USER_AGREEMENT)
    assert (status.state, status.expired_since) == (
        State.EXPIRED,
        datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert status.reason == (
        "signed revision 2024 of user-agreement; revision 2025 requires signing again"
    )
    assert refused_for(ledger, do_policy) == [USER_AGREEMENT]


# --- HMIS 10 and its acknowledgement -----------------------------------------------------------


def test_without_hmis_10_its_acknowledgement_cannot_count_either(
    ledger: Ledger, do: Do, do_policy: Do, clock: FixedClock, w: Lahsa
) -> None:
    """HMIS 10 cannot be the only thing missing: the acknowledgement must follow it."""
    walk(ledger, do, clock, w, leave_out=[HMIS_10])

    ev = evaluate(ledger, w, clock.now())

    assert ev.unmet() == [HMIS_10, ACK]
    assert ev.status(HMIS_10).reason == "missing: complete one of LA-HMIS-10"
    assert ev.status(ACK).reason == f"{ACK_TITLE} needs {HMIS_10} first"
    assert refused_for(ledger, do_policy) == [HMIS_10, ACK]


def test_a_missing_hmis_10_acknowledgement_is_the_only_unmet_clause_and_refuses_credentials(
    ledger: Ledger, do: Do, do_policy: Do, clock: FixedClock, w: Lahsa
) -> None:
    walk(ledger, do, clock, w, leave_out=[ACK])

    ev = evaluate(ledger, w, clock.now())

    assert ev.unmet() == [ACK]
    assert ev.status(ACK).reason == "missing: sign hmis10-acknowledgement revision 2025"
    assert refused_for(ledger, do_policy) == [ACK]


def test_an_acknowledgement_signed_before_hmis_10_is_out_of_order(
    ledger: Ledger, do: Do, do_policy: Do, clock: FixedClock, w: Lahsa
) -> None:
    sign_form(do, w, ACK)
    clock.advance(HOUR)
    walk(ledger, do, clock, w, leave_out=[ACK])

    ev = evaluate(ledger, w, clock.now())

    assert ev.unmet() == [ACK]
    status = ev.status(ACK)
    assert status.state is State.MISSING
    assert status.reason == (
        f"out of order: {ACK_TITLE} on 2026-03-02 came before {HMIS_10} on 2026-03-02; "
        "do it again after"
    )
    assert status.evidence[0].what == "too early"
    assert refused_for(ledger, do_policy) == [ACK]


def test_an_acknowledgement_of_an_older_revision_signed_now_is_expired_from_its_signing(
    ledger: Ledger, do: Do, clock: FixedClock, w: Lahsa
) -> None:
    walk(ledger, do, clock, w, leave_out=[ACK])
    signed_at = clock.now()
    sign_form(do, w, ACK, revision="2024")

    ev = evaluate(ledger, w, clock.now())

    assert ev.unmet() == [ACK]
    assert (ev.state_of(ACK), ev.status(ACK).expired_since) == (State.EXPIRED, signed_at)
    assert ev.status(ACK).reason == (
        "signed revision 2024 of hmis10-acknowledgement; revision 2025 requires signing again"
    )


# --- the role trainings ------------------------------------------------------------------------

ROLE_TRAININGS = [
    ("housing-provider", "CES_Housing_Provider", HMIS_511),
    ("assessment-only", "CES_Assessments", HMIS_509_HALF),
    ("housing-navigator-case-manager", "CES_Standard", HMIS_509_FULL),
    ("outreach", "CES_Outreach", HMIS_102),
    ("community-coordinator", "CES_Coordinator", HMIS_509_FULL),
    ("community-matcher", "CES_Matcher", HMIS_510),
]


@pytest.mark.parametrize(("role", "hmis_role", "clause"), ROLE_TRAININGS)
def test_a_role_training_left_out_is_the_only_unmet_clause_and_refuses_that_role(
    ledger: Ledger,
    do: Do,
    do_policy: Do,
    clock: FixedClock,
    w: Lahsa,
    role: str,
    hmis_role: str,
    clause: str,
) -> None:
    walk(ledger, do, clock, w, roles=[role], leave_out=[clause])

    ev = evaluate(ledger, w, clock.now())

    assert ev.unmet() == [clause]
    assert ev.status(clause).reason.startswith("missing: complete one of ")
    assert (ev.overall, ev.access) == (Overall.NON_COMPLIANT, None)
    assert refused_for(ledger, do_policy, hmis_role) == [clause]


@pytest.mark.parametrize(("role", "hmis_role", "clause"), ROLE_TRAININGS)
def test_each_role_with_all_its_clauses_gets_its_hmis_role_under_the_policy(
    ledger: Ledger,
    do: Do,
    do_policy: Do,
    clock: FixedClock,
    w: Lahsa,
    role: str,
    hmis_role: str,
    clause: str,
) -> None:
    walk(ledger, do, clock, w, roles=[role])

    ev = evaluate(ledger, w, clock.now())
    do_policy(issue(hmis_role))

    assert (ev.overall, ev.unmet()) == (Overall.PENDING, [])
    assert ev.access is not None
    assert (ev.access.role, ev.access.hmis_role) == (role, hmis_role)
    assert user(ledger, w.coc, w.user).hmis_role == hmis_role


def test_the_full_509_class_satisfies_the_first_half(
    ledger: Ledger, do: Do, clock: FixedClock, w: Lahsa
) -> None:
    walk(ledger, do, clock, w, leave_out=[HMIS_509_HALF])
    take(do, w, HMIS_509_FULL)

    ev = evaluate(ledger, w, clock.now())

    assert ev.unmet() == []
    assert ev.status(HMIS_509_HALF).evidence[0].what == "completed LA-HMIS-509-FULL"


def test_a_user_with_several_roles_gets_the_highest_whose_clauses_are_all_met(
    ledger: Ledger, do: Do, clock: FixedClock, w: Lahsa
) -> None:
    walk(
        ledger, do, clock, w, roles=["housing-provider", "community-matcher"], leave_out=[HMIS_510]
    )

    partial = evaluate(ledger, w, clock.now())
    take(do, w, HMIS_510)
    complete = evaluate(ledger, w, clock.now())

    assert partial.access is not None
    assert partial.access.hmis_role == "CES_Housing_Provider"
    assert partial.unmet() == [HMIS_510]
    assert complete.access is not None
    assert complete.access.hmis_role == "CES_Matcher"
    assert "manage-client-prioritization-list" in complete.access.permissions


# --- overrides ---------------------------------------------------------------------------------


def test_credentials_issued_over_an_override_are_recorded_and_shown_as_findings(
    ledger: Ledger, do: Do, do_policy: Do, clock: FixedClock, w: Lahsa
) -> None:
    walk(ledger, do, clock, w, leave_out=[HMIS_10, ACK, HMIS_509_HALF])
    reason = "training seats full until next month; supervised use approved"

    issued = do_policy(issue(override_reason=reason))

    ev = evaluate(ledger, w, clock.now())
    event_id = written_event_id(ledger, EndUser, issued)
    override, live = ev.findings
    assert (override.kind, override.event_id) == ("override", event_id)
    assert override.detail == (
        f"credentials issued despite missing {HMIS_10}, {ACK}, {HMIS_509_HALF}: {reason}"
    )
    assert (live.kind, live.event_id, live.detail) == (
        "credentials-while-not-compliant",
        event_id,
        "live credentials while non-compliant",
    )
    assert ev.overall is Overall.NON_COMPLIANT
    assert user(ledger, w.coc, w.user).credentials is CredentialState.ACTIVE


def test_an_override_does_not_pass_the_organisation_gates_hard_rule(
    ledger: Ledger, do: Do, do_policy: Do, clock: FixedClock, w: Lahsa
) -> None:
    walk(ledger, do, clock, w, leave_out=[SETUP])

    refused(
        ledger,
        do_policy,
        issue(override_reason="urgent encampment resolution"),
        "CA-600/step-2/program-setup",
    )
