"""CE obligations: MO-606 data partner intakes and WI-500 follow-up records."""

from __future__ import annotations

from datetime import timedelta

from commands.agreements import DraftAgreement
from commands.obligations import (
    RecordDataPartnerIntake,
    RecordFollowUpAttempt,
    RecordFollowUpRecord,
    RecordIntakeEntered,
)
from ledger.application import Ledger
from ledger.clock import FixedClock
from ledger.domain.obligations import DataPartnerIntake, FollowUp
from ledger.domain.vocabulary import AgreementKind, FollowUpRecord, Party
from ledger.errors import DuplicateEntity, NotFound
from tests.integration.builders import (
    Do,
    Missouri,
    Wisconsin,
    happy_path,
    load,
    missouri,
    mo_moa_executed,
    refused,
    rejected,
    sign,
    wisconsin,
)


def intake(w: Missouri, ref: str = "intake-1") -> RecordDataPartnerIntake:
    return RecordDataPartnerIntake(
        coc=w.coc,
        intake_ref=ref,
        client_ref="client-7f3a",
        collecting_agency_ref=w.non_hmis_agency,
        partner_agency_ref=w.agency,
    )


def attempt(w: Wisconsin, reached: bool, ref: str = "fu-1") -> RecordFollowUpAttempt:
    return RecordFollowUpAttempt(
        coc=w.coc, follow_up_ref=ref, client_ref="client-2b9c", user_ref=w.user, reached=reached
    )


def record(w: Wisconsin, kind: FollowUpRecord, ref: str = "fu-1") -> RecordFollowUpRecord:
    return RecordFollowUpRecord(coc=w.coc, follow_up_ref=ref, record=kind)


# --- MO-606 data partner intakes -------------------------------------------------------------


@happy_path(RecordDataPartnerIntake)
def test_record_data_partner_intake_under_an_executed_moa(ledger: Ledger, do: Do) -> None:
    w = missouri(do)
    mo_moa_executed(do, w)

    receipt = do(intake(w))

    received = load(ledger, DataPartnerIntake, w.coc, "intake-1")
    assert receipt.entity_id == received.id
    assert received.received.client_ref == "client-7f3a"
    assert (received.received.collecting_agency_ref, received.received.partner_agency_ref) == (
        w.non_hmis_agency,
        w.agency,
    )
    assert received.entered is None


@happy_path(RecordIntakeEntered)
def test_record_intake_entered_records_who_entered_it(
    ledger: Ledger, do: Do, clock: FixedClock
) -> None:
    w = missouri(do)
    mo_moa_executed(do, w)
    do(intake(w))
    clock.advance(timedelta(days=2))

    do(RecordIntakeEntered(coc=w.coc, intake_ref="intake-1", entered_by="mo-user-1"))

    entered = load(ledger, DataPartnerIntake, w.coc, "intake-1").entered
    assert entered is not None
    assert entered.entered_by == "mo-user-1"
    assert entered.effective_at == clock.now()


def test_an_intake_needs_a_fully_executed_moa(ledger: Ledger, do: Do) -> None:
    w = missouri(do)

    refused(ledger, do, intake(w), "MO-606/data-partner/moa-executed")


def test_an_intake_under_a_half_signed_moa_is_refused(ledger: Ledger, do: Do) -> None:
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
    sign(do, w.coc, w.moa, Party.AGENCY)

    refused(ledger, do, intake(w), "MO-606/data-partner/moa-executed")


def test_an_intake_is_entered_only_once(ledger: Ledger, do: Do) -> None:
    w = missouri(do)
    mo_moa_executed(do, w)
    do(intake(w))
    do(RecordIntakeEntered(coc=w.coc, intake_ref="intake-1", entered_by="mo-user-1"))

    refused(
        ledger,
        do,
        RecordIntakeEntered(coc=w.coc, intake_ref="intake-1", entered_by="mo-user-1"),
        "MO-606/data-partner/enter-once",
    )


def test_an_intake_cannot_be_entered_before_it_was_received(
    ledger: Ledger, do: Do, clock: FixedClock
) -> None:
    w = missouri(do)
    mo_moa_executed(do, w)
    do(intake(w))

    refused(
        ledger,
        do,
        RecordIntakeEntered(
            coc=w.coc,
            intake_ref="intake-1",
            entered_by="mo-user-1",
            effective_at=clock.now() - timedelta(hours=1),
        ),
        "MO-606/data-partner/entry-after-intake",
    )


def test_an_intake_ref_is_used_only_once(ledger: Ledger, do: Do) -> None:
    w = missouri(do)
    mo_moa_executed(do, w)
    do(intake(w))

    rejected(ledger, do, intake(w), DuplicateEntity)


def test_entering_an_unknown_intake_is_not_found(ledger: Ledger, do: Do) -> None:
    w = missouri(do)

    rejected(
        ledger,
        do,
        RecordIntakeEntered(coc=w.coc, intake_ref="intake-9", entered_by="mo-user-1"),
        NotFound,
    )


# --- WI-500 follow-ups -------------------------------------------------------------------------


@happy_path(RecordFollowUpAttempt)
def test_record_follow_up_attempt_records_whether_the_client_was_reached(
    ledger: Ledger, do: Do
) -> None:
    w = wisconsin(do)

    receipt = do(attempt(w, reached=True))

    follow_up = load(ledger, FollowUp, w.coc, "fu-1")
    assert receipt.entity_id == follow_up.id
    assert follow_up.reached is True
    assert follow_up.records() == set()


@happy_path(RecordFollowUpRecord)
def test_a_reached_follow_up_collects_its_three_records(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)
    do(attempt(w, reached=True))

    do(
        RecordFollowUpRecord(
            coc=w.coc,
            follow_up_ref="fu-1",
            record=FollowUpRecord.STATUS_UPDATE,
            hmis_record_ref="hmis-su-1",
        )
    )
    do(record(w, FollowUpRecord.CURRENT_LIVING_SITUATION))
    do(record(w, FollowUpRecord.CE_NOTE))

    follow_up = load(ledger, FollowUp, w.coc, "fu-1")
    assert follow_up.records() == set(FollowUpRecord)
    assert [r.hmis_record_ref for r in follow_up.facts(FollowUp.RecordCompleted)] == [
        "hmis-su-1",
        None,
        None,
    ]


def test_an_unreached_client_gets_a_ce_note(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)
    do(attempt(w, reached=False))

    do(record(w, FollowUpRecord.CE_NOTE))

    assert load(ledger, FollowUp, w.coc, "fu-1").records() == {FollowUpRecord.CE_NOTE}


def test_an_unreached_client_gets_no_status_update(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)
    do(attempt(w, reached=False))

    refused(
        ledger, do, record(w, FollowUpRecord.STATUS_UPDATE), "WI-500/follow-up/not-reached-records"
    )


def test_an_unreached_client_gets_no_current_living_situation(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)
    do(attempt(w, reached=False))

    refused(
        ledger,
        do,
        record(w, FollowUpRecord.CURRENT_LIVING_SITUATION),
        "WI-500/follow-up/not-reached-records",
    )


def test_each_follow_up_record_is_completed_once(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)
    do(attempt(w, reached=True))
    do(record(w, FollowUpRecord.CE_NOTE))

    refused(ledger, do, record(w, FollowUpRecord.CE_NOTE), "WI-500/follow-up/record-once")


def test_a_follow_up_by_an_unknown_user_is_not_found(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)

    rejected(
        ledger,
        do,
        RecordFollowUpAttempt(
            coc=w.coc,
            follow_up_ref="fu-1",
            client_ref="client-2b9c",
            user_ref="wi-nobody",
            reached=True,
        ),
        NotFound,
    )


def test_a_follow_up_ref_is_used_only_once(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)
    do(attempt(w, reached=True))

    rejected(ledger, do, attempt(w, reached=False), DuplicateEntity)


def test_a_record_for_an_unknown_follow_up_is_not_found(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)

    rejected(ledger, do, record(w, FollowUpRecord.CE_NOTE, ref="fu-9"), NotFound)
