"""Agreements: drafting, signing in the set order, revising and voiding."""

from __future__ import annotations

from commands.agreements import DraftAgreement, ReviseAgreement, SignAgreement, VoidAgreement
from ledger.application import Ledger
from ledger.domain.agreements import Agreement
from ledger.domain.vocabulary import AgreementKind, Party
from ledger.errors import DuplicateEntity, InvalidInput, NotFound
from tests.integration.builders import (
    Do,
    Lahsa,
    Missouri,
    agreement,
    happy_path,
    la_org_agreement_executed,
    lahsa,
    missouri,
    mo_assessor_trained,
    mo_mou_drafted,
    refused,
    rejected,
    sign,
)


def mou_ready_to_sign(do: Do) -> Missouri:
    w = missouri(do)
    mo_assessor_trained(do, w)
    mo_mou_drafted(do, w)
    return w


def org_agreement_drafted(do: Do) -> Lahsa:
    w = lahsa(do)
    do(
        DraftAgreement(
            coc=w.coc,
            agreement_kind=AgreementKind.ORGANIZATION_AGREEMENT,
            agency_ref=w.agency,
            revision="2026-1",
        )
    )
    return w


# --- happy paths ---------------------------------------------------------------------------


@happy_path(DraftAgreement)
def test_draft_ce_mou_lists_its_three_parties_in_signing_order(ledger: Ledger, do: Do) -> None:
    w = missouri(do)

    receipt = mo_mou_drafted(do, w)

    mou = agreement(ledger, w.coc, w.mou)
    assert receipt.entity_id == mou.id
    assert mou.drafted.region == w.region
    assert mou.drafted.parties == [Party.AGENCY, Party.REGIONAL_CE_LEAD, Party.LEAD_AGENCY]
    assert mou.revision == "2026-1"
    assert mou.signatures() == []
    assert mou.next_party() is Party.AGENCY
    assert mou.fully_executed is False


def test_draft_organisation_agreement_has_agency_then_coc_representative(
    ledger: Ledger, do: Do
) -> None:
    w = org_agreement_drafted(do)

    org = agreement(ledger, w.coc, w.org_agreement)
    assert org.drafted.parties == [Party.AGENCY, Party.COC_REPRESENTATIVE]
    assert org.drafted.region is None


@happy_path(SignAgreement)
def test_sign_agreement_records_the_signature_of_the_next_party(ledger: Ledger, do: Do) -> None:
    w = mou_ready_to_sign(do)

    sign(do, w.coc, w.mou, Party.AGENCY, "mo-exec-director")

    mou = agreement(ledger, w.coc, w.mou)
    [signature] = mou.signatures()
    assert (signature.party, signature.signatory, signature.revision) == (
        Party.AGENCY,
        "mo-exec-director",
        "2026-1",
    )
    assert mou.next_party() is Party.REGIONAL_CE_LEAD
    assert mou.fully_executed is False


def test_ce_mou_is_fully_executed_after_all_three_sign_in_order(ledger: Ledger, do: Do) -> None:
    w = mou_ready_to_sign(do)

    sign(do, w.coc, w.mou, Party.AGENCY)
    sign(do, w.coc, w.mou, Party.REGIONAL_CE_LEAD)
    sign(do, w.coc, w.mou, Party.LEAD_AGENCY)

    mou = agreement(ledger, w.coc, w.mou)
    assert [s.party for s in mou.signatures()] == [
        Party.AGENCY,
        Party.REGIONAL_CE_LEAD,
        Party.LEAD_AGENCY,
    ]
    assert mou.next_party() is None
    assert mou.fully_executed is True


def test_organisation_agreement_is_executed_after_two_signatures(ledger: Ledger, do: Do) -> None:
    w = lahsa(do)

    la_org_agreement_executed(do, w)

    assert agreement(ledger, w.coc, w.org_agreement).fully_executed is True


@happy_path(ReviseAgreement)
def test_revise_agreement_restarts_the_signatures_on_the_new_revision(
    ledger: Ledger, do: Do
) -> None:
    w = lahsa(do)
    la_org_agreement_executed(do, w)

    do(
        ReviseAgreement(
            coc=w.coc,
            agreement_ref=w.org_agreement,
            revision="2027-1",
            reason="annual terms update",
        )
    )

    org = agreement(ledger, w.coc, w.org_agreement)
    assert org.revision == "2027-1"
    assert org.signatures() == []
    assert org.fully_executed is False
    assert len(list(org.facts(Agreement.Signed))) == 2  # the old signatures stay recorded


def test_signatures_of_a_new_revision_carry_that_revision(ledger: Ledger, do: Do) -> None:
    w = lahsa(do)
    la_org_agreement_executed(do, w)
    do(
        ReviseAgreement(
            coc=w.coc,
            agreement_ref=w.org_agreement,
            revision="2027-1",
            reason="annual terms update",
        )
    )

    sign(do, w.coc, w.org_agreement, Party.AGENCY)

    assert [s.revision for s in agreement(ledger, w.coc, w.org_agreement).signatures()] == [
        "2027-1"
    ]


@happy_path(VoidAgreement)
def test_void_agreement_ends_its_execution(ledger: Ledger, do: Do) -> None:
    w = lahsa(do)
    la_org_agreement_executed(do, w)

    do(VoidAgreement(coc=w.coc, agreement_ref=w.org_agreement, reason="organisation closed"))

    org = agreement(ledger, w.coc, w.org_agreement)
    assert org.voided is True
    assert org.fully_executed is False


def test_a_new_revision_after_voiding_restarts_the_agreement(ledger: Ledger, do: Do) -> None:
    w = org_agreement_drafted(do)
    do(VoidAgreement(coc=w.coc, agreement_ref=w.org_agreement, reason="drafted in error"))

    do(
        ReviseAgreement(
            coc=w.coc, agreement_ref=w.org_agreement, revision="2026-2", reason="redrafted"
        )
    )
    sign(do, w.coc, w.org_agreement, Party.AGENCY)

    org = agreement(ledger, w.coc, w.org_agreement)
    assert org.voided is False
    assert org.next_party() is Party.COC_REPRESENTATIVE


# --- refusals ------------------------------------------------------------------------------


def test_ce_mou_regional_lead_cannot_sign_before_the_agency(ledger: Ledger, do: Do) -> None:
    w = mou_ready_to_sign(do)

    refused(
        ledger,
        do,
        SignAgreement(
            coc=w.coc, agreement_ref=w.mou, party=Party.REGIONAL_CE_LEAD, signatory="lead-1"
        ),
        "agreement/ce-mou/signing-order",
    )


def test_ce_mou_lead_agency_cannot_sign_before_the_regional_lead(ledger: Ledger, do: Do) -> None:
    w = mou_ready_to_sign(do)
    sign(do, w.coc, w.mou, Party.AGENCY)

    refused(
        ledger,
        do,
        SignAgreement(coc=w.coc, agreement_ref=w.mou, party=Party.LEAD_AGENCY, signatory="lead-1"),
        "agreement/ce-mou/signing-order",
    )


def test_coc_representative_cannot_sign_before_the_organisation(ledger: Ledger, do: Do) -> None:
    w = org_agreement_drafted(do)

    refused(
        ledger,
        do,
        SignAgreement(
            coc=w.coc,
            agreement_ref=w.org_agreement,
            party=Party.COC_REPRESENTATIVE,
            signatory="la-coc-rep",
        ),
        "agreement/org-agreement/signing-order",
    )


def test_a_party_not_named_in_the_agreement_cannot_sign(ledger: Ledger, do: Do) -> None:
    w = org_agreement_drafted(do)
    sign(do, w.coc, w.org_agreement, Party.AGENCY)

    refused(
        ledger,
        do,
        SignAgreement(
            coc=w.coc,
            agreement_ref=w.org_agreement,
            party=Party.PARTNER_AGENCY,
            signatory="someone",
        ),
        "agreement/org-agreement/signing-order",
    )


def test_lead_agency_is_not_a_party_to_an_organisation_agreement(ledger: Ledger, do: Do) -> None:
    """The Lead Agency signs only Missouri's CE MOUs: elsewhere it is simply not a party."""
    w = org_agreement_drafted(do)
    sign(do, w.coc, w.org_agreement, Party.AGENCY)

    refused(
        ledger,
        do,
        SignAgreement(
            coc=w.coc, agreement_ref=w.org_agreement, party=Party.LEAD_AGENCY, signatory="someone"
        ),
        "agreement/org-agreement/signing-order",
    )


def test_a_party_signs_a_revision_only_once(ledger: Ledger, do: Do) -> None:
    w = mou_ready_to_sign(do)
    sign(do, w.coc, w.mou, Party.AGENCY)

    refused(
        ledger,
        do,
        SignAgreement(
            coc=w.coc, agreement_ref=w.mou, party=Party.AGENCY, signatory="mo-exec-director"
        ),
        "agreement/ce-mou/sign-once",
    )


def test_a_voided_agreement_cannot_be_signed(ledger: Ledger, do: Do) -> None:
    w = org_agreement_drafted(do)
    do(VoidAgreement(coc=w.coc, agreement_ref=w.org_agreement, reason="drafted in error"))

    refused(
        ledger,
        do,
        SignAgreement(
            coc=w.coc,
            agreement_ref=w.org_agreement,
            party=Party.AGENCY,
            signatory="la-exec-director",
        ),
        "agreement/org-agreement/voided",
    )


def test_an_agreement_is_voided_only_once(ledger: Ledger, do: Do) -> None:
    w = org_agreement_drafted(do)
    do(VoidAgreement(coc=w.coc, agreement_ref=w.org_agreement, reason="drafted in error"))

    refused(
        ledger,
        do,
        VoidAgreement(coc=w.coc, agreement_ref=w.org_agreement, reason="again"),
        "agreement/void-once",
    )


def test_a_revision_must_differ_from_the_current_one(ledger: Ledger, do: Do) -> None:
    w = org_agreement_drafted(do)

    refused(
        ledger,
        do,
        ReviseAgreement(
            coc=w.coc, agreement_ref=w.org_agreement, revision="2026-1", reason="no change"
        ),
        "agreement/revision-changes",
    )


def test_a_ce_mou_without_a_region_is_invalid(ledger: Ledger, do: Do) -> None:
    w = missouri(do)

    rejected(
        ledger,
        do,
        DraftAgreement(
            coc=w.coc, agreement_kind=AgreementKind.CE_MOU, agency_ref=w.agency, revision="2026-1"
        ),
        InvalidInput,
    )


def test_an_organisation_agreement_with_a_region_is_invalid(ledger: Ledger, do: Do) -> None:
    w = missouri(do)

    rejected(
        ledger,
        do,
        DraftAgreement(
            coc=w.coc,
            agreement_kind=AgreementKind.ORGANIZATION_AGREEMENT,
            agency_ref=w.agency,
            region=w.region,
            revision="2026-1",
        ),
        InvalidInput,
    )


def test_the_same_agreement_is_drafted_only_once(ledger: Ledger, do: Do) -> None:
    w = org_agreement_drafted(do)

    rejected(
        ledger,
        do,
        DraftAgreement(
            coc=w.coc,
            agreement_kind=AgreementKind.ORGANIZATION_AGREEMENT,
            agency_ref=w.agency,
            revision="2026-2",
        ),
        DuplicateEntity,
    )


def test_a_ce_mou_for_an_unknown_region_is_not_found(ledger: Ledger, do: Do) -> None:
    w = missouri(do)

    rejected(
        ledger,
        do,
        DraftAgreement(
            coc=w.coc,
            agreement_kind=AgreementKind.CE_MOU,
            agency_ref=w.agency,
            region="r99",
            revision="2026-1",
        ),
        NotFound,
    )


def test_signing_an_unknown_agreement_is_not_found(ledger: Ledger, do: Do) -> None:
    w = lahsa(do)

    rejected(
        ledger,
        do,
        SignAgreement(
            coc=w.coc, agreement_ref="org-agreement.la-nobody", party=Party.AGENCY, signatory="x1"
        ),
        NotFound,
    )
