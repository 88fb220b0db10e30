"""Which agency a command acts for: the commands an agency recorder may send, each with the
agencies it acts for, read from the command and (for a user, agreement, intake or follow-up
it names) from the ledger."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from commands import agreements, end_users, obligations, organisations
from commands.base import Command
from ledger.application import Ledger
from ledger.domain.agreements import Agreement
from ledger.domain.end_users import EndUser
from ledger.domain.obligations import DataPartnerIntake, FollowUp
from ledger.domain.vocabulary import Party
from ledger.ids import entity_id

# The agencies a command acts for; None when the entity it names does not exist (the
# command itself then answers 404); an empty set when it acts for no agency at all.
Acting = frozenset[str] | None
Resolver = Callable[[Any, Ledger], Acting]


def _named(cmd: Any, _: Ledger) -> Acting:
    return frozenset({cmd.agency_ref})


def _user_agency(ledger: Ledger, coc: str, user_ref: str) -> Acting:
    user = ledger.load(EndUser, entity_id(EndUser.kind, coc, user_ref))
    if user is None:
        return None
    agency = user.agency_ref  # None after a departure: then no agency recorder acts for them
    return frozenset() if agency is None else frozenset({agency})


def _users_agency(cmd: Any, ledger: Ledger) -> Acting:
    return _user_agency(ledger, cmd.coc, cmd.user_ref)


def _intake_parties(cmd: obligations.RecordDataPartnerIntake, _: Ledger) -> Acting:
    return frozenset({cmd.collecting_agency_ref, cmd.partner_agency_ref})


def _intake_partner(cmd: obligations.RecordIntakeEntered, ledger: Ledger) -> Acting:
    intake = ledger.load(
        DataPartnerIntake, entity_id(DataPartnerIntake.kind, cmd.coc, cmd.intake_ref)
    )
    return None if intake is None else frozenset({intake.received.partner_agency_ref})


def _follow_up_user(cmd: obligations.RecordFollowUpRecord, ledger: Ledger) -> Acting:
    follow_up = ledger.load(FollowUp, entity_id(FollowUp.kind, cmd.coc, cmd.follow_up_ref))
    if follow_up is None:
        return None
    attempted = follow_up.created
    assert isinstance(attempted, FollowUp.Attempted)
    return _user_agency(ledger, cmd.coc, attempted.user_ref)


def _signing_party(cmd: agreements.SignAgreement, ledger: Ledger) -> Acting:
    """An agency signs as the agency or as the data partner; other parties (the Regional CE
    Lead, the Lead Agency, the CoC) sign through a CoC recorder."""
    agreement = ledger.load(Agreement, entity_id(Agreement.kind, cmd.coc, cmd.agreement_ref))
    if agreement is None:
        return None
    drafted = agreement.drafted
    if cmd.party is Party.AGENCY:
        return frozenset({drafted.agency_ref})
    if cmd.party is Party.PARTNER_AGENCY and drafted.partner_agency_ref is not None:
        return frozenset({drafted.partner_agency_ref})
    return frozenset()


def _resolvers() -> dict[str, Resolver]:
    pairs: list[tuple[type[Command], Resolver]] = [
        (organisations.JoinRegion, _named),
        (organisations.LeaveRegion, _named),
        (organisations.DeclareCesRoles, _named),
        (organisations.SetUpProgram, _named),
        (organisations.DesignateAgencyContact, _named),
        (agreements.DraftAgreement, _named),
        (agreements.SignAgreement, _signing_party),
        (end_users.RegisterEndUser, _named),
        (end_users.TransferEndUser, _named),  # the agency the user joins
        (end_users.RecordDeparture, _users_agency),
        (end_users.RequestTraining, _users_agency),
        (end_users.EnrolInCourse, _users_agency),
        (end_users.RecordCourseCompletion, _users_agency),
        (end_users.SignForm, _users_agency),
        (end_users.SubmitAccessRequest, _users_agency),
        (end_users.RequestRole, _users_agency),
        (obligations.RecordDataPartnerIntake, _intake_parties),
        (obligations.RecordIntakeEntered, _intake_partner),
        (obligations.RecordFollowUpAttempt, _users_agency),
        (obligations.RecordFollowUpRecord, _follow_up_user),
    ]
    return {model.name: resolver for model, resolver in pairs}


# The commands an agency recorder may send (for its own agency); every other command is the
# CoC's: registering agencies, regions and leads, policies, confirming set-ups, credits,
# approving access, proctored reviews, credentials, log-in summaries, corrections.
AGENCY_SIDE: dict[str, Resolver] = _resolvers()


def acting_agencies(command: Command, ledger: Ledger) -> Acting:
    """The agencies ``command`` acts for (an empty set for a command that is not the
    agency's to send)."""
    resolver = AGENCY_SIDE.get(command.name)
    return frozenset() if resolver is None else resolver(command, ledger)
