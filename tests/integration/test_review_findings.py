"""Corrections cannot slip past the rules; retracted signatures can be given again; credentials
come back only through the gates; bad values are refused as input."""

from __future__ import annotations

from datetime import timedelta

from commands.agreements import SignAgreement, VoidAgreement
from commands.corrections import AmendEvent, RetractEvent
from commands.end_users import (
    IssueCredentials,
    ReactivateCredentials,
    RecordDeparture,
    RecordLoginActivity,
    SuspendCredentials,
)
from ledger.application import Ledger
from ledger.clock import FixedClock
from ledger.domain.agreements import Agreement
from ledger.domain.end_users import EndUser
from ledger.domain.organisations import Agency
from ledger.domain.vocabulary import Party
from ledger.errors import InvalidInput
from tests.integration.builders import (
    Do,
    agency,
    agreement,
    la_org_agreement_executed,
    la_program_setup,
    lahsa,
    missouri,
    mo_assessor_trained,
    mo_mou_drafted,
    refused,
    rejected,
    sign,
    user,
)


def signature(ledger: Ledger, coc: str, ref: str, party: Party) -> Agreement.Signed:
    return next(s for s in agreement(ledger, coc, ref).signatures() if s.party == party)


def test_an_amendment_cannot_change_who_signed(ledger: Ledger, do: Do) -> None:
    w = lahsa(do)
    la_org_agreement_executed(do, w)
    agency_signature = signature(ledger, w.coc, w.org_agreement, Party.AGENCY)

    rejected(
        ledger,
        do,
        AmendEvent(
            coc=w.coc,
            entity_kind="agreement",
            entity_ref=w.org_agreement,
            event_id=agency_signature.event_id,
            reason="wrong party",
            changes={"party": "coc-representative"},
        ),
        InvalidInput,
    )


def test_a_retracted_signature_can_be_given_again_and_completes_the_agreement(
    ledger: Ledger, do: Do
) -> None:
    w = lahsa(do)
    la_org_agreement_executed(do, w)
    agency_signature = signature(ledger, w.coc, w.org_agreement, Party.AGENCY)
    do(
        RetractEvent(
            coc=w.coc,
            entity_kind="agreement",
            entity_ref=w.org_agreement,
            event_id=agency_signature.event_id,
            reason="signed by an unauthorised person",
        )
    )
    assert not agreement(ledger, w.coc, w.org_agreement).fully_executed

    sign(do, w.coc, w.org_agreement, Party.AGENCY, "la-exec-director")

    assert agreement(ledger, w.coc, w.org_agreement).fully_executed


def test_a_fact_mirrored_on_another_entity_cannot_be_retracted(ledger: Ledger, do: Do) -> None:
    w = lahsa(do)
    do(RecordDeparture(coc=w.coc, user_ref=w.user, reason="left"))
    departure = user(ledger, w.coc, w.user).last(EndUser.DepartedAgency)
    assert departure is not None

    refused(
        ledger,
        do,
        RetractEvent(
            coc=w.coc,
            entity_kind="user",
            entity_ref=w.user,
            event_id=departure.event_id,
            reason="did not leave",
        ),
        "correction/mirrored-fact-not-retractable",
    )
    assert w.user not in agency(ledger, w.coc, w.agency).staff()
    assert isinstance(agency(ledger, w.coc, w.agency), Agency)


def test_reactivation_passes_the_credential_gates_again(ledger: Ledger, do: Do) -> None:
    w = lahsa(do)
    la_org_agreement_executed(do, w)
    la_program_setup(do, w)
    do(IssueCredentials(coc=w.coc, user_ref=w.user, hmis_role="CES_Assessments"))
    do(SuspendCredentials(coc=w.coc, user_ref=w.user, reason="agreement under review"))
    do(VoidAgreement(coc=w.coc, agreement_ref=w.org_agreement, reason="agency dissolved"))

    refused(
        ledger,
        do,
        ReactivateCredentials(coc=w.coc, user_ref=w.user),
        "CA-600/step-1/organization-agreement",
    )


def test_an_amendment_with_an_out_of_range_number_is_invalid_input(
    ledger: Ledger, do: Do, clock: FixedClock
) -> None:
    w = lahsa(do)
    do(
        RecordLoginActivity(
            coc=w.coc,
            user_ref=w.user,
            period_start=clock.now() - timedelta(days=7),
            period_end=clock.now(),
            login_count=0,
        )
    )
    summary = user(ledger, w.coc, w.user).last(EndUser.LoginActivitySummarised)
    assert summary is not None

    for key in (None, "amend-1"):
        rejected(
            ledger,
            do,
            AmendEvent(
                coc=w.coc,
                entity_kind="user",
                entity_ref=w.user,
                event_id=summary.event_id,
                reason="count was wrong",
                changes={"login_count": 10**30},
                idempotency_key=key,
            ),
            InvalidInput,
        )


def test_a_repeated_mou_signature_is_refused_as_repeated_even_after_staff_left(
    ledger: Ledger, do: Do
) -> None:
    w = missouri(do)
    mo_assessor_trained(do, w)
    mo_mou_drafted(do, w)
    sign(do, w.coc, w.mou, Party.AGENCY)
    do(RecordDeparture(coc=w.coc, user_ref=w.user, reason="moved away"))

    refused(
        ledger,
        do,
        SignAgreement(coc=w.coc, agreement_ref=w.mou, party=Party.AGENCY, signatory="again"),
        "agreement/ce-mou/sign-once",
    )
