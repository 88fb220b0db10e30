"""Evaluations beyond one user: data-partner entry deadlines, CE follow-up completeness, and
an agency's course fees against its training credits."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from ledger.domain.end_users import EndUser
from ledger.domain.obligations import DataPartnerIntake, FollowUp
from ledger.domain.organisations import Agency
from ledger.domain.vocabulary import PaymentMethod
from ledger.policy.calendar import add_business_days
from ledger.policy.model import PolicyPack
from projections.compliance.results import ClauseStatus, Evidence, State

DATA_PARTNER_ENTRY = "deadline:data-partner-entry"
FOLLOW_UP_RECORDS = "follow-up:records"


def evaluate_intake(intake: DataPartnerIntake, pack: PolicyPack, as_of: datetime) -> ClauseStatus:
    """Was (or is) the intake entered into HMIS within the business days the pack allows?"""
    days = pack.deadlines.data_partner_entry_business_days
    received = intake.received
    if days is None:
        return ClauseStatus(DATA_PARTNER_ENTRY, State.SATISFIED, "the policy sets no deadline")
    deadline = add_business_days(received.effective_at.date(), days)
    entered = intake.entered
    if entered is not None and entered.effective_at <= as_of:
        evidence = (Evidence(entered.event_id, entered.effective_at, "entered into HMIS"),)
        if entered.effective_at.date() <= deadline:
            return ClauseStatus(
                DATA_PARTNER_ENTRY,
                State.SATISFIED,
                f"entered by the deadline {deadline}",
                evidence,
                deadline=deadline,
            )
        return ClauseStatus(
            DATA_PARTNER_ENTRY,
            State.OVERDUE,
            f"entered on {entered.effective_at.date()}, after the deadline {deadline}",
            evidence,
            deadline=deadline,
        )
    if as_of.date() > deadline:
        return ClauseStatus(
            DATA_PARTNER_ENTRY,
            State.OVERDUE,
            f"not entered; due by {deadline} ({days} business days after "
            f"{received.effective_at.date()})",
            deadline=deadline,
        )
    return ClauseStatus(
        DATA_PARTNER_ENTRY,
        State.PENDING,
        f"to be entered by {deadline} ({days} business days)",
        deadline=deadline,
    )


def evaluate_follow_up(follow_up: FollowUp, pack: PolicyPack) -> ClauseStatus:
    """Are the HMIS records the pack requires for this follow-up all completed?"""
    rules = pack.follow_up
    if rules is None:
        return ClauseStatus(FOLLOW_UP_RECORDS, State.SATISFIED, "the policy sets no rules")
    needed = rules.reached if follow_up.reached else rules.not_reached
    done = {r.record: r for r in follow_up.facts(FollowUp.RecordCompleted)}
    missing = [str(r) for r in needed if r not in done]
    contact = "reached" if follow_up.reached else "not reached"
    if missing:
        return ClauseStatus(
            FOLLOW_UP_RECORDS, State.MISSING, f"client {contact}: missing {', '.join(missing)}"
        )
    return ClauseStatus(
        FOLLOW_UP_RECORDS,
        State.SATISFIED,
        f"client {contact}: all records completed",
        tuple(Evidence(done[r].event_id, done[r].effective_at, str(r)) for r in needed),
    )


@dataclass(frozen=True)
class FeeSummary:
    credits_granted: int
    credits_used: int
    invoiced_cents: int
    unpaid: tuple[str, ...]  # "user/course" of fee courses enrolled without a payment

    @property
    def credit_balance(self) -> int:
        return self.credits_granted - self.credits_used


def agency_fees(
    agency: Agency, staff: Iterable[EndUser], pack: PolicyPack, as_of: datetime
) -> FeeSummary | None:
    """Course fees of the agency's staff against its training credits (None: no fees)."""
    fees = pack.fees
    if fees is None:
        return None
    granted = sum(
        g.credits for g in agency.facts(Agency.TrainingCreditsGranted) if g.effective_at <= as_of
    )
    used = invoiced = 0
    unpaid: list[str] = []
    for user in staff:
        for enrolled in user.facts(EndUser.CourseEnrolled):
            if enrolled.effective_at > as_of or not enrolled.course_code.startswith(
                fees.course_prefix
            ):
                continue
            if enrolled.payment is PaymentMethod.TRAINING_CREDIT:
                used += 1
            elif enrolled.payment is PaymentMethod.INVOICE:
                invoiced += fees.fee_cents
            else:
                unpaid.append(f"{user.ref}/{enrolled.course_code}")
    return FeeSummary(granted, used, invoiced, tuple(unpaid))
