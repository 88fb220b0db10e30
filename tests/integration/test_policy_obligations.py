"""Agency credits and course fees, data-partner entry deadlines in business days, and CE
follow-up completeness, evaluated under the bundled packs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from commands.end_users import EnrolInCourse
from commands.hard_rules import IL_INTRO_COURSE
from commands.obligations import (
    RecordDataPartnerIntake,
    RecordFollowUpAttempt,
    RecordFollowUpRecord,
    RecordIntakeEntered,
)
from commands.organisations import GrantTrainingCredits
from ledger.application import Ledger
from ledger.clock import FixedClock
from ledger.domain.end_users import EndUser
from ledger.domain.obligations import DataPartnerIntake, FollowUp
from ledger.domain.organisations import Agency
from ledger.domain.vocabulary import FollowUpRecord, PaymentMethod
from projections.compliance.obligations import agency_fees, evaluate_follow_up, evaluate_intake
from projections.compliance.results import State
from tests.integration.builders import (
    IL_PROJECT_COURSE,
    Do,
    chicago,
    complete_course,
    happy_path,
    il_through_step,
    load,
    missouri,
    mo_assessor_trained,
    mo_moa_executed,
    wisconsin,
)


@happy_path(GrantTrainingCredits)
def test_credits_pay_for_project_courses_and_invoices_count_the_rest(
    ledger: Ledger, do: Do, clock: FixedClock
) -> None:
    w = chicago(do)
    do(GrantTrainingCredits(coc=w.coc, agency_ref=w.agency, credits=4, reason="member agency"))
    il_through_step(do, w, 1)
    complete_course(do, w.coc, w.user, IL_INTRO_COURSE, score=100)
    do(
        EnrolInCourse(
            coc=w.coc,
            user_ref=w.user,
            course_code=IL_PROJECT_COURSE,
            provider="lms",
            payment=PaymentMethod.TRAINING_CREDIT,
            fee_cents=2500,
        )
    )
    do(
        EnrolInCourse(
            coc=w.coc,
            user_ref=w.user,
            course_code="IL-PROJ-SSVF",
            provider="lms",
            payment=PaymentMethod.INVOICE,
            fee_cents=2500,
        )
    )
    pack = ledger.packs.get("IL-510", "2026.2").pack
    agency = load(ledger, Agency, w.coc, w.agency)

    fees = agency_fees(agency, [load(ledger, EndUser, w.coc, w.user)], pack, clock.now())

    assert fees is not None
    assert (fees.credits_granted, fees.credits_used, fees.credit_balance) == (4, 1, 3)
    assert fees.invoiced_cents == 2500
    assert fees.unpaid == ()


def test_a_data_partner_intake_is_due_three_business_days_later_skipping_a_holiday(
    ledger: Ledger, do: Do, clock: FixedClock
) -> None:
    w = missouri(do)
    mo_assessor_trained(do, w)
    mo_moa_executed(do, w)
    received = datetime(2026, 2, 13, 16, 0, tzinfo=UTC)  # Friday before Presidents' Day
    do(
        RecordDataPartnerIntake(
            coc=w.coc,
            intake_ref="in-1",
            client_ref="c-opaque-1",
            collecting_agency_ref=w.non_hmis_agency,
            partner_agency_ref=w.agency,
            effective_at=received,
        )
    )
    pack = ledger.packs.get("MO-606", "2026.1").pack
    intake = load(ledger, DataPartnerIntake, w.coc, "in-1")

    pending = evaluate_intake(intake, pack, received + timedelta(days=4))
    overdue = evaluate_intake(intake, pack, datetime(2026, 2, 20, 9, 0, tzinfo=UTC))

    assert (pending.state, str(pending.deadline)) == (State.PENDING, "2026-02-19")
    assert overdue.state is State.OVERDUE

    do(
        RecordIntakeEntered(
            coc=w.coc,
            intake_ref="in-1",
            entered_by="mo-user-1",
            effective_at=datetime(2026, 2, 19, 12, 0, tzinfo=UTC),
        )
    )
    entered = evaluate_intake(load(ledger, DataPartnerIntake, w.coc, "in-1"), pack, clock.now())
    assert entered.state is State.SATISFIED
    assert entered.evidence[0].what == "entered into HMIS"


def test_a_reached_follow_up_needs_three_records_and_an_unreached_one_a_note(
    ledger: Ledger, do: Do
) -> None:
    w = wisconsin(do)
    pack = ledger.packs.get("WI-500", "2026.1").pack
    do(
        RecordFollowUpAttempt(
            coc=w.coc, follow_up_ref="fu-1", client_ref="c-9", user_ref=w.user, reached=True
        )
    )
    do(
        RecordFollowUpAttempt(
            coc=w.coc, follow_up_ref="fu-2", client_ref="c-9", user_ref=w.user, reached=False
        )
    )
    do(RecordFollowUpRecord(coc=w.coc, follow_up_ref="fu-1", record=FollowUpRecord.CE_NOTE))
    do(RecordFollowUpRecord(coc=w.coc, follow_up_ref="fu-2", record=FollowUpRecord.CE_NOTE))

    reached = evaluate_follow_up(load(ledger, FollowUp, w.coc, "fu-1"), pack)
    unreached = evaluate_follow_up(load(ledger, FollowUp, w.coc, "fu-2"), pack)

    assert reached.state is State.MISSING
    assert reached.reason == "client reached: missing status-update, current-living-situation"
    assert unreached.state is State.SATISFIED
