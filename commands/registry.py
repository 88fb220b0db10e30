"""Every command with its handler, and the single entry point that runs them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from commands import agreements, corrections, end_users, lms_links, obligations, organisations
from commands.base import Caller, Command, IfMatch, Receipt
from commands.runtime import execute
from ledger.application import Ledger
from ledger.eligibility import EligibilityPolicy
from ledger.errors import NotFound


@dataclass(frozen=True)
class CommandSpec:
    model: type[Command]
    handler: Callable[[Any, Any], Any]
    creates_tenant: bool = False

    @property
    def name(self) -> str:
        return self.model.name


def _specs() -> dict[str, CommandSpec]:
    pairs: list[tuple[type[Command], Callable[[Any, Any], Any]]] = [
        (organisations.RegisterCoc, organisations.register_coc),
        (organisations.AddRegion, organisations.add_region),
        (organisations.DesignateLeadAgency, organisations.designate_lead_agency),
        (organisations.DesignateHmisLead, organisations.designate_hmis_lead),
        (organisations.AssignRegionalCeLead, organisations.assign_regional_ce_lead),
        (organisations.RegisterAgency, organisations.register_agency),
        (organisations.JoinRegion, organisations.join_region),
        (organisations.LeaveRegion, organisations.leave_region),
        (organisations.DeclareCesRoles, organisations.declare_ces_roles),
        (organisations.SetUpProgram, organisations.set_up_program),
        (organisations.ConfirmProgramSetUp, organisations.confirm_program_setup),
        (organisations.DesignateAgencyContact, organisations.designate_agency_contact),
        (organisations.AdoptPolicy, organisations.adopt_policy),
        (organisations.GrantTrainingCredits, organisations.grant_training_credits),
        (agreements.DraftAgreement, agreements.draft_agreement),
        (agreements.SignAgreement, agreements.sign_agreement),
        (agreements.ReviseAgreement, agreements.revise_agreement),
        (agreements.VoidAgreement, agreements.void_agreement),
        (end_users.RegisterEndUser, end_users.register_end_user),
        (end_users.TransferEndUser, end_users.transfer_end_user),
        (end_users.RecordDeparture, end_users.record_departure),
        (end_users.RequestTraining, end_users.request_training),
        (end_users.EnrolInCourse, end_users.enrol_in_course),
        (end_users.RecordCourseCompletion, end_users.record_course_completion),
        (end_users.SignForm, end_users.sign_form),
        (end_users.SubmitAccessRequest, end_users.submit_access_request),
        (end_users.ApproveAccessRequest, end_users.approve_access_request),
        (end_users.DenyAccessRequest, end_users.deny_access_request),
        (end_users.RecordProctoredSession, end_users.record_proctored_session),
        (end_users.RequestRole, end_users.request_role),
        (end_users.IssueCredentials, end_users.issue_credentials),
        (end_users.GrantHmisRole, end_users.grant_hmis_role),
        (end_users.SuspendCredentials, end_users.suspend_credentials),
        (end_users.ReactivateCredentials, end_users.reactivate_credentials),
        (end_users.RevokeCredentials, end_users.revoke_credentials),
        (end_users.RecordLoginActivity, end_users.record_login_activity),
        (obligations.RecordDataPartnerIntake, obligations.record_data_partner_intake),
        (obligations.RecordIntakeEntered, obligations.record_intake_entered),
        (obligations.RecordFollowUpAttempt, obligations.record_follow_up_attempt),
        (obligations.RecordFollowUpRecord, obligations.record_follow_up_record),
        (lms_links.LinkLmsAccount, lms_links.link_lms_account),
        (lms_links.LinkLmsCourse, lms_links.link_lms_course),
        (lms_links.RematchLmsCompletions, lms_links.rematch_lms_completions),
        (corrections.RetractEvent, corrections.retract_event),
        (corrections.AmendEvent, corrections.amend_event),
    ]
    return {
        model.name: CommandSpec(model, handler, creates_tenant=model is organisations.RegisterCoc)
        for model, handler in pairs
    }


COMMANDS: dict[str, CommandSpec] = _specs()


def spec_for(name: str) -> CommandSpec:
    try:
        return COMMANDS[name]
    except KeyError:
        raise NotFound(f"there is no command named {name!r}") from None


def run(
    ledger: Ledger,
    command: Command,
    caller: Caller,
    eligibility: EligibilityPolicy | None = None,
    *,
    if_match: IfMatch | None = None,
) -> Receipt:
    """Run one command and return its receipt (``if_match``: see ``runtime.execute``)."""
    spec = spec_for(command.name)
    return execute(
        ledger,
        command,
        caller,
        spec.handler,
        eligibility=eligibility,
        creates_tenant=spec.creates_tenant,
        if_match=if_match,
    )
