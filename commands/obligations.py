"""Commands about Coordinated Entry obligations (clients only as opaque references)."""

from __future__ import annotations

from commands.base import Command
from commands.runtime import UnitOfWork
from ledger.domain.agreements import Agreement, agreement_ref
from ledger.domain.end_users import EndUser
from ledger.domain.obligations import DataPartnerIntake, FollowUp
from ledger.domain.organisations import Agency
from ledger.domain.vocabulary import AgreementKind, FollowUpRecord, Ref
from ledger.errors import RuleViolation


class RecordDataPartnerIntake(Command):
    """A non-HMIS agency collected an intake; its HMIS partner must enter it (3 business days).
    ``effective_at`` is when the partner received the data."""

    name = "record-data-partner-intake"
    intake_ref: Ref
    client_ref: Ref
    collecting_agency_ref: Ref
    partner_agency_ref: Ref


def record_data_partner_intake(cmd: RecordDataPartnerIntake, uow: UnitOfWork) -> DataPartnerIntake:
    uow.get(Agency, cmd.collecting_agency_ref)
    uow.get(Agency, cmd.partner_agency_ref)
    moa = uow.find(
        Agreement,
        agreement_ref(
            AgreementKind.DATA_PARTNERSHIP_MOA, cmd.collecting_agency_ref, cmd.partner_agency_ref
        ),
    )
    if moa is None or not moa.fully_executed:
        raise RuleViolation(
            "MO-606/data-partner/moa-executed",
            f"{cmd.collecting_agency_ref} has no fully executed data partnership MOA with "
            f"{cmd.partner_agency_ref}",
        )
    intake = DataPartnerIntake.receive(
        cmd.intake_ref, cmd.client_ref, cmd.collecting_agency_ref, cmd.partner_agency_ref, uow.meta
    )
    return uow.create(intake, cmd.intake_ref)


class RecordIntakeEntered(Command):
    name = "record-intake-entered"
    intake_ref: Ref
    entered_by: Ref


def record_intake_entered(cmd: RecordIntakeEntered, uow: UnitOfWork) -> DataPartnerIntake:
    intake = uow.get(DataPartnerIntake, cmd.intake_ref)
    intake.record_entry(cmd.entered_by, uow.meta)
    return intake


class RecordFollowUpAttempt(Command):
    name = "record-follow-up-attempt"
    follow_up_ref: Ref
    client_ref: Ref
    user_ref: Ref
    reached: bool


def record_follow_up_attempt(cmd: RecordFollowUpAttempt, uow: UnitOfWork) -> FollowUp:
    uow.get(EndUser, cmd.user_ref)
    follow_up = FollowUp.attempt(
        cmd.follow_up_ref, cmd.client_ref, cmd.user_ref, cmd.reached, uow.meta
    )
    return uow.create(follow_up, cmd.follow_up_ref)


class RecordFollowUpRecord(Command):
    name = "record-follow-up-record"
    follow_up_ref: Ref
    record: FollowUpRecord
    hmis_record_ref: Ref | None = None


def record_follow_up_record(cmd: RecordFollowUpRecord, uow: UnitOfWork) -> FollowUp:
    follow_up = uow.get(FollowUp, cmd.follow_up_ref)
    follow_up.complete_record(cmd.record, cmd.hmis_record_ref, uow.meta)
    return follow_up
