"""MO-606 (Missouri Balance of State): CE MOUs per region, data partnership MOAs, UARs."""

from __future__ import annotations

from commands.agreements import DraftAgreement, SignAgreement
from commands.end_users import (
    ApproveAccessRequest,
    DenyAccessRequest,
    IssueCredentials,
    RecordDeparture,
    SubmitAccessRequest,
)
from commands.organisations import AssignRegionalCeLead, LeaveRegion
from ledger.application import Ledger
from ledger.domain.end_users import EndUser
from ledger.domain.vocabulary import AccessRequestType, AgreementKind, CredentialState, Party
from ledger.errors import NotFound
from tests.integration.builders import (
    Do,
    agreement,
    happy_path,
    missouri,
    mo_assessor_trained,
    mo_mou_drafted,
    mo_uar_approved,
    mo_uar_submitted,
    refused,
    register_agency,
    register_user,
    rejected,
    sign,
    user,
)

# --- CE MOU --------------------------------------------------------------------------------


def test_agency_cannot_sign_a_ce_mou_before_anyone_completed_assessor_training(
    ledger: Ledger, do: Do
) -> None:
    w = missouri(do)
    mo_mou_drafted(do, w)

    refused(
        ledger,
        do,
        SignAgreement(
            coc=w.coc, agreement_ref=w.mou, party=Party.AGENCY, signatory="mo-exec-director"
        ),
        "MO-606/ce-mou/after-assessor-training",
    )


def test_any_staff_member_with_assessor_training_lets_the_agency_sign(
    ledger: Ledger, do: Do
) -> None:
    w = missouri(do)
    register_user(do, w.coc, "mo-user-2", w.agency)
    mo_assessor_trained(do, w, "mo-user-2")
    mo_mou_drafted(do, w)

    sign(do, w.coc, w.mou, Party.AGENCY)

    assert agreement(ledger, w.coc, w.mou).next_party() is Party.REGIONAL_CE_LEAD


def test_training_of_a_departed_staff_member_does_not_count_for_the_mou(
    ledger: Ledger, do: Do
) -> None:
    w = missouri(do)
    mo_assessor_trained(do, w)
    do(RecordDeparture(coc=w.coc, user_ref=w.user, reason="left the agency"))
    mo_mou_drafted(do, w)

    refused(
        ledger,
        do,
        SignAgreement(
            coc=w.coc, agreement_ref=w.mou, party=Party.AGENCY, signatory="mo-exec-director"
        ),
        "MO-606/ce-mou/after-assessor-training",
    )


def test_a_ce_mou_is_only_for_a_region_the_agency_is_active_in(ledger: Ledger, do: Do) -> None:
    w = missouri(do)
    do(LeaveRegion(coc=w.coc, agency_ref=w.agency, region=w.region))

    refused(
        ledger,
        do,
        DraftAgreement(
            coc=w.coc,
            agreement_kind=AgreementKind.CE_MOU,
            agency_ref=w.agency,
            region=w.region,
            revision="2026-1",
        ),
        "MO-606/ce-mou/region-active",
    )


def test_regional_lead_cannot_sign_when_the_region_has_no_lead(ledger: Ledger, do: Do) -> None:
    w = missouri(do, leads=False)
    mo_assessor_trained(do, w)
    mo_mou_drafted(do, w)
    sign(do, w.coc, w.mou, Party.AGENCY)

    refused(
        ledger,
        do,
        SignAgreement(
            coc=w.coc, agreement_ref=w.mou, party=Party.REGIONAL_CE_LEAD, signatory="lead-1"
        ),
        "MO-606/ce-mou/regional-lead-assigned",
    )


def test_lead_agency_cannot_sign_when_none_is_designated(ledger: Ledger, do: Do) -> None:
    w = missouri(do, leads=False)
    do(AssignRegionalCeLead(coc=w.coc, region=w.region, agency_ref=w.regional_lead))
    mo_assessor_trained(do, w)
    mo_mou_drafted(do, w)
    sign(do, w.coc, w.mou, Party.AGENCY)
    sign(do, w.coc, w.mou, Party.REGIONAL_CE_LEAD)

    refused(
        ledger,
        do,
        SignAgreement(
            coc=w.coc, agreement_ref=w.mou, party=Party.LEAD_AGENCY, signatory="lead-agency-1"
        ),
        "MO-606/ce-mou/lead-agency-designated",
    )


# --- data partnership MOA --------------------------------------------------------------------


def test_data_moa_joins_a_non_hmis_agency_to_an_hmis_partner(ledger: Ledger, do: Do) -> None:
    w = missouri(do)

    do(
        DraftAgreement(
            coc=w.coc,
            agreement_kind=AgreementKind.DATA_PARTNERSHIP_MOA,
            agency_ref=w.non_hmis_agency,
            partner_agency_ref=w.agency,
            revision="2026-1",
        )
    )

    moa = agreement(ledger, w.coc, w.moa)
    assert moa.drafted.parties == [Party.AGENCY, Party.PARTNER_AGENCY]
    assert moa.drafted.partner_agency_ref == w.agency


def test_data_moa_with_a_non_hmis_partner_is_refused(ledger: Ledger, do: Do) -> None:
    w = missouri(do)
    register_agency(do, w.coc, "mo-other-pantry", hmis=False)

    refused(
        ledger,
        do,
        DraftAgreement(
            coc=w.coc,
            agreement_kind=AgreementKind.DATA_PARTNERSHIP_MOA,
            agency_ref=w.non_hmis_agency,
            partner_agency_ref="mo-other-pantry",
            revision="2026-1",
        ),
        "MO-606/data-moa/non-hmis-with-hmis-partner",
    )


def test_data_moa_for_an_hmis_participating_agency_is_refused(ledger: Ledger, do: Do) -> None:
    w = missouri(do)

    refused(
        ledger,
        do,
        DraftAgreement(
            coc=w.coc,
            agreement_kind=AgreementKind.DATA_PARTNERSHIP_MOA,
            agency_ref=w.agency,
            partner_agency_ref=w.lead_agency,
            revision="2026-1",
        ),
        "MO-606/data-moa/non-hmis-with-hmis-partner",
    )


def test_data_moa_with_an_unknown_partner_is_not_found(ledger: Ledger, do: Do) -> None:
    w = missouri(do)

    rejected(
        ledger,
        do,
        DraftAgreement(
            coc=w.coc,
            agreement_kind=AgreementKind.DATA_PARTNERSHIP_MOA,
            agency_ref=w.non_hmis_agency,
            partner_agency_ref="mo-nobody",
            revision="2026-1",
        ),
        NotFound,
    )


# --- User Access Request and HMIS access -----------------------------------------------------


@happy_path(SubmitAccessRequest)
def test_submit_access_request_records_a_pending_uar_with_its_projects(
    ledger: Ledger, do: Do
) -> None:
    w = missouri(do)
    mo_assessor_trained(do, w)

    mo_uar_submitted(do, w, "uar-1")

    subject = user(ledger, w.coc, w.user)
    assert subject.access_requests() == {"uar-1": "submitted"}
    submitted = subject.last(EndUser.AccessRequestSubmitted)
    assert submitted is not None
    assert submitted.request_type is AccessRequestType.NEW_USER
    assert submitted.projects == ["Synthetic Shelter Project"]
    assert (submitted.submitted_by, submitted.certificate_id) == ("mo-auth-rep", "CERT-0001")


@happy_path(ApproveAccessRequest)
def test_approve_access_request_marks_the_uar_approved(ledger: Ledger, do: Do) -> None:
    w = missouri(do)
    mo_assessor_trained(do, w)
    mo_uar_submitted(do, w, "uar-1")

    do(ApproveAccessRequest(coc=w.coc, user_ref=w.user, request_ref="uar-1"))

    assert user(ledger, w.coc, w.user).access_requests() == {"uar-1": "approved"}


@happy_path(DenyAccessRequest)
def test_deny_access_request_marks_the_uar_denied_with_reason(ledger: Ledger, do: Do) -> None:
    w = missouri(do)
    mo_assessor_trained(do, w)
    mo_uar_submitted(do, w, "uar-1")

    do(
        DenyAccessRequest(
            coc=w.coc, user_ref=w.user, request_ref="uar-1", reason="projects list incomplete"
        )
    )

    subject = user(ledger, w.coc, w.user)
    assert subject.access_requests() == {"uar-1": "denied"}
    denied = subject.last(EndUser.AccessRequestDenied)
    assert denied is not None
    assert denied.reason == "projects list incomplete"


def test_uar_needs_the_users_litmos_assessor_certificate(ledger: Ledger, do: Do) -> None:
    w = missouri(do)

    refused(
        ledger,
        do,
        SubmitAccessRequest(
            coc=w.coc,
            user_ref=w.user,
            request_ref="uar-1",
            projects=["Synthetic Shelter Project"],
            submitted_by="mo-auth-rep",
        ),
        "MO-606/uar/litmos-certificate",
    )


def test_hmis_credentials_need_an_approved_uar(ledger: Ledger, do: Do) -> None:
    w = missouri(do)
    mo_assessor_trained(do, w)
    mo_uar_submitted(do, w)

    refused(
        ledger,
        do,
        IssueCredentials(coc=w.coc, user_ref=w.user, hmis_role="case-manager"),
        "MO-606/hmis-access/after-uar-approval",
    )


def test_a_denied_uar_does_not_open_hmis_access(ledger: Ledger, do: Do) -> None:
    w = missouri(do)
    mo_assessor_trained(do, w)
    mo_uar_submitted(do, w)
    do(
        DenyAccessRequest(
            coc=w.coc, user_ref=w.user, request_ref="uar-1", reason="projects list incomplete"
        )
    )

    refused(
        ledger,
        do,
        IssueCredentials(coc=w.coc, user_ref=w.user, hmis_role="case-manager"),
        "MO-606/hmis-access/after-uar-approval",
    )


def test_hmis_credentials_follow_an_approved_uar(ledger: Ledger, do: Do) -> None:
    w = missouri(do)
    mo_uar_approved(do, w)

    do(IssueCredentials(coc=w.coc, user_ref=w.user, hmis_role="case-manager"))

    assert user(ledger, w.coc, w.user).credentials is CredentialState.ACTIVE
