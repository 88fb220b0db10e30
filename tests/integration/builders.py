"""Small builders for integration tests: a CoC of each seed process with agencies and users.

Every name, e-mail and reference here is synthetic. Each builder runs real commands through
the ``do`` fixture, so what it sets up is exactly what the commands would record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pytest

from commands.agreements import DraftAgreement, SignAgreement
from commands.base import Command, Receipt
from commands.end_users import (
    ApproveAccessRequest,
    RecordCourseCompletion,
    RecordLoginActivity,
    RecordProctoredSession,
    RegisterEndUser,
    RequestTraining,
    SubmitAccessRequest,
)
from commands.hard_rules import (
    IL_INTRO_COURSE,
    IL_PROJECT_COURSE_PREFIX,
    MO_ASSESSOR_COURSE,
)
from commands.organisations import (
    AddRegion,
    AssignRegionalCeLead,
    ConfirmProgramSetUp,
    DeclareCesRoles,
    DesignateLeadAgency,
    JoinRegion,
    RegisterAgency,
    RegisterCoc,
    SetUpProgram,
)
from commands.registry import COMMANDS
from ledger.application import Ledger
from ledger.domain.agreements import Agreement, agreement_ref
from ledger.domain.base import LedgerAggregate
from ledger.domain.end_users import EndUser
from ledger.domain.organisations import Agency, CoC
from ledger.domain.vocabulary import (
    AgreementKind,
    OrgCesRole,
    Party,
    Process,
    ProctoredOutcome,
    ProgramType,
)
from ledger.errors import LedgerError, RuleViolation
from ledger.ids import entity_id
from tests.conftest import START

Do = Callable[[Command], Receipt]
A = TypeVar("A", bound=LedgerAggregate)
F = TypeVar("F", bound=Callable[..., Any])

IL_PROJECT_COURSE = f"{IL_PROJECT_COURSE_PREFIX}ES-TH-SH"


# --- marking happy-path tests ----------------------------------------------------------------


def happy_path(command: type[Command]) -> Callable[[F], F]:
    """Mark a test as the happy path of ``command`` (see test_command_coverage.py)."""
    assert command.name in COMMANDS, f"{command.name} is not a registered command"

    def mark(test: F) -> F:
        test.happy_path_of = command.name  # type: ignore[attr-defined]
        return test

    return mark


# --- asserting refusals ----------------------------------------------------------------------


def refused(ledger: Ledger, do: Do, command: Command, rule: str) -> RuleViolation:
    """Run ``command``, expect a RuleViolation of ``rule``, and check nothing was written."""
    head = ledger.head()
    with pytest.raises(RuleViolation) as err:
        do(command)
    assert err.value.rule == rule, err.value.message
    assert ledger.head() == head
    return err.value


def rejected(ledger: Ledger, do: Do, command: Command, error: type[LedgerError]) -> LedgerError:
    """Run ``command``, expect ``error``, and check nothing was written."""
    head = ledger.head()
    with pytest.raises(error) as err:
        do(command)
    assert ledger.head() == head
    return err.value


# --- reading entities --------------------------------------------------------------------------


def load(ledger: Ledger, cls: type[A], coc: str, *key: str) -> A:
    aggregate = ledger.load(cls, entity_id(cls.kind, coc, *key))
    assert aggregate is not None, f"{cls.kind} {key} of {coc} was not found"
    return aggregate


def user(ledger: Ledger, coc: str, ref: str) -> EndUser:
    return load(ledger, EndUser, coc, ref)


def agency(ledger: Ledger, coc: str, ref: str) -> Agency:
    return load(ledger, Agency, coc, ref)


def coc(ledger: Ledger, code: str) -> CoC:
    return load(ledger, CoC, code)


def agreement(ledger: Ledger, coc_code: str, ref: str) -> Agreement:
    return load(ledger, Agreement, coc_code, ref)


# --- generic steps -----------------------------------------------------------------------------


def register_coc(do: Do, code: str, process: Process, name: str = "Synthetic CoC") -> Receipt:
    return do(RegisterCoc(coc=code, coc_name=name, process=process))


def register_agency(do: Do, code: str, ref: str, *, hmis: bool = True) -> Receipt:
    return do(
        RegisterAgency(
            coc=code, agency_ref=ref, agency_name=f"Synthetic Agency {ref}", hmis_participating=hmis
        )
    )


def register_user(do: Do, code: str, ref: str, agency_ref: str) -> Receipt:
    return do(
        RegisterEndUser(
            coc=code,
            user_ref=ref,
            agency_ref=agency_ref,
            person_name=f"Test Person {ref}",
            email=f"{ref}@example.org",
        )
    )


def complete_course(
    do: Do,
    code: str,
    user_ref: str,
    course_code: str,
    effective_at: datetime | None = None,
    **extra: Any,
) -> Receipt:
    return do(
        RecordCourseCompletion(
            coc=code,
            user_ref=user_ref,
            course_code=course_code,
            provider="Synthetic LMS",
            effective_at=effective_at,
            **extra,
        )
    )


# --- Missouri Balance of State (MO-606) --------------------------------------------------------


@dataclass(frozen=True)
class Missouri:
    coc: str = "MO-606"
    region: str = "r4"
    agency: str = "mo-harbor"  # HMIS-participating, active in the region
    regional_lead: str = "mo-ridge"  # Regional CE Lead of the region
    lead_agency: str = "mo-summit"  # the CoC's Lead Agency
    non_hmis_agency: str = "mo-pantry"  # not in HMIS; needs a data partnership MOA
    user: str = "mo-user-1"  # staff of ``agency``, not trained yet

    @property
    def mou(self) -> str:
        return agreement_ref(AgreementKind.CE_MOU, self.agency, self.region)

    @property
    def moa(self) -> str:
        return agreement_ref(AgreementKind.DATA_PARTNERSHIP_MOA, self.non_hmis_agency, self.agency)


def missouri(do: Do, *, leads: bool = True) -> Missouri:
    """MO-606 with one region, its agencies, and an untrained user; ``leads`` designates the
    Lead Agency and the region's Regional CE Lead."""
    w = Missouri()
    register_coc(do, w.coc, Process.MISSOURI_BOS, "Synthetic Missouri Balance of State")
    do(
        AddRegion(
            coc=w.coc,
            region=w.region,
            region_name="Region Four",
            counties=["Alder County", "Birch County"],
        )
    )
    for ref in (w.agency, w.regional_lead, w.lead_agency):
        register_agency(do, w.coc, ref)
    register_agency(do, w.coc, w.non_hmis_agency, hmis=False)
    do(JoinRegion(coc=w.coc, agency_ref=w.agency, region=w.region))
    if leads:
        do(DesignateLeadAgency(coc=w.coc, agency_ref=w.lead_agency))
        do(AssignRegionalCeLead(coc=w.coc, region=w.region, agency_ref=w.regional_lead))
    register_user(do, w.coc, w.user, w.agency)
    return w


def mo_assessor_trained(do: Do, w: Missouri, user_ref: str | None = None) -> Receipt:
    """The user completes the CE Assessor Training in LITMOS."""
    return complete_course(
        do,
        w.coc,
        user_ref or w.user,
        MO_ASSESSOR_COURSE,
        certificate_id="CERT-0001",
        source_record_id="ach-0001",
    )


def mo_uar_submitted(do: Do, w: Missouri, request_ref: str = "uar-1") -> Receipt:
    return do(
        SubmitAccessRequest(
            coc=w.coc,
            user_ref=w.user,
            request_ref=request_ref,
            projects=["Synthetic Shelter Project"],
            submitted_by="mo-auth-rep",
            certificate_id="CERT-0001",
        )
    )


def mo_uar_approved(do: Do, w: Missouri, request_ref: str = "uar-1") -> Receipt:
    """Trained, UAR submitted by the Authorized Representative, and approved by ICA."""
    mo_assessor_trained(do, w)
    mo_uar_submitted(do, w, request_ref)
    return do(ApproveAccessRequest(coc=w.coc, user_ref=w.user, request_ref=request_ref))


def mo_mou_drafted(do: Do, w: Missouri) -> Receipt:
    return do(
        DraftAgreement(
            coc=w.coc,
            agreement_kind=AgreementKind.CE_MOU,
            agency_ref=w.agency,
            region=w.region,
            revision="2026-1",
        )
    )


def sign(do: Do, code: str, ref: str, party: Party, signatory: str = "signer-1") -> Receipt:
    return do(SignAgreement(coc=code, agreement_ref=ref, party=party, signatory=signatory))


def mo_moa_executed(do: Do, w: Missouri) -> None:
    """The non-HMIS agency and its HMIS partner sign a data partnership MOA."""
    do(
        DraftAgreement(
            coc=w.coc,
            agreement_kind=AgreementKind.DATA_PARTNERSHIP_MOA,
            agency_ref=w.non_hmis_agency,
            partner_agency_ref=w.agency,
            revision="2026-1",
        )
    )
    sign(do, w.coc, w.moa, Party.AGENCY)
    sign(do, w.coc, w.moa, Party.PARTNER_AGENCY)


# --- Los Angeles (CA-600) ------------------------------------------------------------------


@dataclass(frozen=True)
class Lahsa:
    coc: str = "CA-600"
    agency: str = "la-canyon"
    user: str = "la-user-1"

    @property
    def org_agreement(self) -> str:
        return agreement_ref(AgreementKind.ORGANIZATION_AGREEMENT, self.agency)


def lahsa(do: Do) -> Lahsa:
    """CA-600 with one organisation (steps 1 and 2 not done) and one of its users."""
    w = Lahsa()
    register_coc(do, w.coc, Process.LAHSA, "Synthetic Los Angeles CoC")
    register_agency(do, w.coc, w.agency)
    register_user(do, w.coc, w.user, w.agency)
    return w


def la_org_agreement_executed(do: Do, w: Lahsa) -> None:
    """Step 1: the organisation signs, then the CoC Representative section is completed."""
    do(
        DraftAgreement(
            coc=w.coc,
            agreement_kind=AgreementKind.ORGANIZATION_AGREEMENT,
            agency_ref=w.agency,
            revision="2026-1",
        )
    )
    sign(do, w.coc, w.org_agreement, Party.AGENCY, "la-exec-director")
    sign(do, w.coc, w.org_agreement, Party.COC_REPRESENTATIVE, "la-coc-rep")


def la_program_setup(do: Do, w: Lahsa, *, confirm: bool = True) -> None:
    """Step 2: CES roles, one program, and (optionally) the lead's confirmation."""
    do(
        DeclareCesRoles(
            coc=w.coc,
            agency_ref=w.agency,
            roles=[OrgCesRole.ASSESSMENT_ONLY, OrgCesRole.HOUSING_PROVIDER],
        )
    )
    do(
        SetUpProgram(
            coc=w.coc,
            agency_ref=w.agency,
            program_ref="prog-1",
            program_type=ProgramType.ASSESSMENT_ONLY,
            program_name="Synthetic Access",
        )
    )
    if confirm:
        do(ConfirmProgramSetUp(coc=w.coc, agency_ref=w.agency, confirmed_by="la-hmis-admin"))


# --- Chicago (IL-510) ----------------------------------------------------------------------


@dataclass(frozen=True)
class Chicago:
    coc: str = "IL-510"
    agency: str = "il-lakeside"
    user: str = "il-user-1"
    ata: str = "il-ata-1"


def chicago(do: Do) -> Chicago:
    """IL-510 with one agency and one new hire who has done none of the four steps."""
    w = Chicago()
    register_coc(do, w.coc, Process.CHICAGO, "Synthetic Chicago CoC")
    register_agency(do, w.coc, w.agency)
    register_user(do, w.coc, w.user, w.agency)
    return w


def il_training_request(
    do: Do, w: Chicago, lms_username: str = "il.user.one", ticket_ref: str = "ticket-1"
) -> Receipt:
    return do(
        RequestTraining(
            coc=w.coc,
            user_ref=w.user,
            ticket_ref=ticket_ref,
            person_name="Test Person Chicago",
            agency_email="il-user-1@example.org",
            lms_username=lms_username,
            expected_responsibilities=["intake"],
            projects=["Synthetic Shelter"],
            requested_by=w.ata,
        )
    )


def il_through_step(do: Do, w: Chicago, step: int) -> None:
    """Complete Chicago steps 1..``step`` (3: the proctored session passed)."""
    il_training_request(do, w)
    if step >= 2:
        complete_course(do, w.coc, w.user, IL_INTRO_COURSE, score=100)
        complete_course(do, w.coc, w.user, IL_PROJECT_COURSE)
    if step >= 3:
        do(
            RecordProctoredSession(
                coc=w.coc, user_ref=w.user, session_ref="vps-1", outcome=ProctoredOutcome.PASSED
            )
        )


# --- Wisconsin Balance of State (WI-500) -------------------------------------------------------


@dataclass(frozen=True)
class Wisconsin:
    coc: str = "WI-500"
    agency: str = "wi-northwoods"
    other_agency: str = "wi-lakeshore"
    user: str = "wi-user-1"


def wisconsin(do: Do) -> Wisconsin:
    """WI-500 (no credential gates among the hard rules) with two agencies and one user."""
    w = Wisconsin()
    register_coc(do, w.coc, Process.WISCONSIN_BOS, "Synthetic Wisconsin Balance of State")
    register_agency(do, w.coc, w.agency)
    register_agency(do, w.coc, w.other_agency)
    register_user(do, w.coc, w.user, w.agency)
    return w


# --- one LAHSA-process CoC with one agency and one user, for tests of the write path ------

LONE_COC = "CA-600"


def register_lone_user(do: Callable[[Command], Receipt]) -> Receipt:
    """CA-600, its agency AG1 and its user U1; the user's registration receipt."""
    do(RegisterCoc(coc=LONE_COC, coc_name="Demo City CoC", process="lahsa"))
    do(RegisterAgency(coc=LONE_COC, agency_ref="AG1", agency_name="Harbor Outreach"))
    return do(RegisterEndUser(coc=LONE_COC, user_ref="U1", agency_ref="AG1"))


def login_summary(
    n: int, *, user: str = "U1", key: str | None = None, count: int = 0
) -> RecordLoginActivity:
    """A log-in summary of CA-600's ``user`` for the day ``n`` days before START."""
    return RecordLoginActivity(
        coc=LONE_COC,
        user_ref=user,
        period_start=START - timedelta(days=n + 1),
        period_end=START - timedelta(days=n),
        login_count=count,
        last_login_at=START - timedelta(days=n, hours=1) if count else None,
        idempotency_key=key,
    )
