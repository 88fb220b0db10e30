"""CA-600 (LAHSA): the Organization Agreement and the confirmed program set-up come before
any user of the organisation gets access."""

from __future__ import annotations

from commands.agreements import DraftAgreement, ReviseAgreement, VoidAgreement
from commands.end_users import IssueCredentials, RecordDeparture
from commands.organisations import ConfirmProgramSetUp, SetUpProgram
from ledger.application import Ledger
from ledger.domain.vocabulary import AgreementKind, CredentialState, Party, ProgramType
from tests.integration.builders import (
    Do,
    la_org_agreement_executed,
    la_program_setup,
    lahsa,
    refused,
    register_agency,
    register_user,
    sign,
    user,
)


def issue(coc: str, user_ref: str) -> IssueCredentials:
    return IssueCredentials(coc=coc, user_ref=user_ref, hmis_role="CES_Assessments")


def test_credentials_follow_steps_one_and_two(ledger: Ledger, do: Do) -> None:
    w = lahsa(do)
    la_org_agreement_executed(do, w)
    la_program_setup(do, w)

    do(issue(w.coc, w.user))

    assert user(ledger, w.coc, w.user).credentials is CredentialState.ACTIVE


def test_no_credentials_without_an_organization_agreement(ledger: Ledger, do: Do) -> None:
    w = lahsa(do)
    la_program_setup(do, w)

    refused(ledger, do, issue(w.coc, w.user), "CA-600/step-1/organization-agreement")


def test_no_credentials_while_the_coc_representative_has_not_signed(ledger: Ledger, do: Do) -> None:
    w = lahsa(do)
    do(
        DraftAgreement(
            coc=w.coc,
            agreement_kind=AgreementKind.ORGANIZATION_AGREEMENT,
            agency_ref=w.agency,
            revision="2026-1",
        )
    )
    sign(do, w.coc, w.org_agreement, Party.AGENCY)
    la_program_setup(do, w)

    refused(ledger, do, issue(w.coc, w.user), "CA-600/step-1/organization-agreement")


def test_no_credentials_under_a_voided_organization_agreement(ledger: Ledger, do: Do) -> None:
    w = lahsa(do)
    la_org_agreement_executed(do, w)
    la_program_setup(do, w)
    do(VoidAgreement(coc=w.coc, agreement_ref=w.org_agreement, reason="organisation closed"))

    refused(ledger, do, issue(w.coc, w.user), "CA-600/step-1/organization-agreement")


def test_no_credentials_under_an_unsigned_new_revision(ledger: Ledger, do: Do) -> None:
    w = lahsa(do)
    la_org_agreement_executed(do, w)
    la_program_setup(do, w)
    do(
        ReviseAgreement(
            coc=w.coc, agreement_ref=w.org_agreement, revision="2027-1", reason="new terms"
        )
    )

    refused(ledger, do, issue(w.coc, w.user), "CA-600/step-1/organization-agreement")


def test_no_credentials_before_the_program_setup_is_confirmed(ledger: Ledger, do: Do) -> None:
    w = lahsa(do)
    la_org_agreement_executed(do, w)
    la_program_setup(do, w, confirm=False)

    refused(ledger, do, issue(w.coc, w.user), "CA-600/step-2/program-setup")


def test_an_unconfirmed_program_change_closes_the_gate_again(ledger: Ledger, do: Do) -> None:
    w = lahsa(do)
    la_org_agreement_executed(do, w)
    la_program_setup(do, w)
    do(
        SetUpProgram(
            coc=w.coc,
            agency_ref=w.agency,
            program_ref="prog-2",
            program_type=ProgramType.OUTREACH,
            program_name="Synthetic Outreach",
        )
    )

    refused(ledger, do, issue(w.coc, w.user), "CA-600/step-2/program-setup")


def test_program_setup_is_confirmed_only_after_ces_roles_are_declared(
    ledger: Ledger, do: Do
) -> None:
    w = lahsa(do)
    do(
        SetUpProgram(
            coc=w.coc,
            agency_ref=w.agency,
            program_ref="prog-1",
            program_type=ProgramType.ASSESSMENT_ONLY,
            program_name="Synthetic Access",
        )
    )

    refused(
        ledger,
        do,
        ConfirmProgramSetUp(coc=w.coc, agency_ref=w.agency, confirmed_by="la-hmis-admin"),
        "CA-600/step-2/ces-roles-first",
    )


def test_the_gates_are_per_organisation(ledger: Ledger, do: Do) -> None:
    """A user of another organisation is not let in by this organisation's steps."""
    w = lahsa(do)
    la_org_agreement_executed(do, w)
    la_program_setup(do, w)
    register_agency(do, w.coc, "la-mesa")
    register_user(do, w.coc, "la-user-2", "la-mesa")

    refused(ledger, do, issue(w.coc, "la-user-2"), "CA-600/step-1/organization-agreement")


def test_a_departed_user_gets_no_credentials(ledger: Ledger, do: Do) -> None:
    w = lahsa(do)
    la_org_agreement_executed(do, w)
    la_program_setup(do, w)
    do(RecordDeparture(coc=w.coc, user_ref=w.user))

    refused(ledger, do, issue(w.coc, w.user), "user/member-of-agency")
