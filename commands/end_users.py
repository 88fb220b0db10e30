"""Commands about end users: joining, training, forms, access requests, roles, credentials."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from commands.base import Command, payload
from commands.hard_rules import (
    chicago_step_order,
    credential_gates,
    uar_with_assessor_certificate,
)
from commands.runtime import UnitOfWork
from ledger.domain.end_users import EndUser
from ledger.domain.organisations import Agency
from ledger.domain.vocabulary import (
    AccessRequestType,
    Code,
    FormKind,
    Moment,
    PaymentMethod,
    Process,
    ProctoredOutcome,
    Reason,
    Ref,
    Slug,
    Text,
)
from ledger.errors import RuleViolation

Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]


class RegisterEndUser(Command):
    name = "register-end-user"
    user_ref: Ref
    agency_ref: Ref
    person_name: Text | None = None
    email: Email | None = None


def register_end_user(cmd: RegisterEndUser, uow: UnitOfWork) -> EndUser:
    agency = uow.get(Agency, cmd.agency_ref)
    user = EndUser.register(
        cmd.user_ref, cmd.agency_ref, uow.meta, name=cmd.person_name, email=cmd.email
    )
    uow.create(user, cmd.user_ref)
    agency.add_staff(cmd.user_ref, uow.meta)
    return user


class TransferEndUser(Command):
    """A user who left an agency starts at another (their training history stays)."""

    name = "transfer-end-user"
    user_ref: Ref
    agency_ref: Ref


def transfer_end_user(cmd: TransferEndUser, uow: UnitOfWork) -> EndUser:
    user = uow.get(EndUser, cmd.user_ref)
    agency = uow.get(Agency, cmd.agency_ref)
    user.join_agency(cmd.agency_ref, uow.meta)
    agency.add_staff(cmd.user_ref, uow.meta)
    return user


class RecordDeparture(Command):
    name = "record-departure"
    user_ref: Ref
    reason: Text | None = None


def record_departure(cmd: RecordDeparture, uow: UnitOfWork) -> EndUser:
    user = uow.get(EndUser, cmd.user_ref)
    agency_ref = user.depart(cmd.reason, uow.meta)
    uow.get(Agency, agency_ref).remove_staff(cmd.user_ref, uow.meta)
    return user


class RequestTraining(Command):
    """Chicago step 1: the ATA or supervisor validates the new hire and files a ticket."""

    name = "request-training"
    user_ref: Ref
    ticket_ref: Ref
    person_name: Text
    agency_email: Email
    lms_username: Text
    expected_responsibilities: list[Text] = Field(min_length=1, max_length=50)
    projects: list[Text] = Field(min_length=1, max_length=200)
    requested_by: Ref


def request_training(cmd: RequestTraining, uow: UnitOfWork) -> EndUser:
    user = uow.get(EndUser, cmd.user_ref)
    if any(t.lms_username != cmd.lms_username for t in user.facts(EndUser.TrainingRequested)):
        raise RuleViolation(
            "IL-510/step-1/one-lms-account",
            "a user keeps exactly one LMS account; use the existing username",
        )
    user.request_training(
        uow.meta,
        ticket_ref=cmd.ticket_ref,
        name=cmd.person_name,
        agency_email=cmd.agency_email,
        lms_username=cmd.lms_username,
        expected_responsibilities=cmd.expected_responsibilities,
        projects=cmd.projects,
        requested_by=cmd.requested_by,
    )
    return user


class EnrolInCourse(Command):
    name = "enrol-in-course"
    user_ref: Ref
    course_code: Code
    course_title: Text | None = None
    provider: Text
    payment: PaymentMethod = PaymentMethod.NOT_CHARGED
    fee_cents: int = Field(default=0, ge=0, le=1_000_000)


def enrol_in_course(cmd: EnrolInCourse, uow: UnitOfWork) -> EndUser:
    user = uow.get(EndUser, cmd.user_ref)
    if uow.process() is Process.CHICAGO:
        chicago_step_order(user, "course", course_code=cmd.course_code)
    user.enrol(uow.meta, **payload(cmd, "user_ref"))
    return user


class RecordCourseCompletion(Command):
    """An LMS course completed; ``effective_at`` is the completion time."""

    name = "record-course-completion"
    user_ref: Ref
    course_code: Code
    course_title: Text | None = None
    provider: Text
    certificate_id: Text | None = None
    score: float | None = Field(default=None, ge=0, le=100)
    source_record_id: Text | None = Field(
        default=None, description="the LMS's own id of this completion (e.g. achievementId)"
    )


def record_course_completion(cmd: RecordCourseCompletion, uow: UnitOfWork) -> EndUser:
    user = uow.get(EndUser, cmd.user_ref)
    if uow.process() is Process.CHICAGO:
        chicago_step_order(user, "course", course_code=cmd.course_code)
    user.complete_course(uow.meta, **payload(cmd, "user_ref"))
    return user


class SignForm(Command):
    name = "sign-form"
    user_ref: Ref
    form: FormKind
    revision: Ref


def sign_form(cmd: SignForm, uow: UnitOfWork) -> EndUser:
    user = uow.get(EndUser, cmd.user_ref)
    user.sign_form(cmd.form, cmd.revision, uow.meta)
    return user


class SubmitAccessRequest(Command):
    """Missouri's User Access Request, filed by the agency's Authorized Representative."""

    name = "submit-access-request"
    user_ref: Ref
    request_ref: Ref
    request_type: AccessRequestType = AccessRequestType.NEW_USER
    projects: list[Text] = Field(min_length=1, max_length=200)
    submitted_by: Ref
    certificate_id: Text | None = None


def submit_access_request(cmd: SubmitAccessRequest, uow: UnitOfWork) -> EndUser:
    user = uow.get(EndUser, cmd.user_ref)
    if uow.process() is Process.MISSOURI_BOS:
        uar_with_assessor_certificate(user)
    user.submit_access_request(uow.meta, **payload(cmd, "user_ref"))
    return user


class ApproveAccessRequest(Command):
    name = "approve-access-request"
    user_ref: Ref
    request_ref: Ref


def approve_access_request(cmd: ApproveAccessRequest, uow: UnitOfWork) -> EndUser:
    user = uow.get(EndUser, cmd.user_ref)
    user.approve_access_request(cmd.request_ref, uow.meta)
    return user


class DenyAccessRequest(Command):
    name = "deny-access-request"
    user_ref: Ref
    request_ref: Ref
    reason: Reason


def deny_access_request(cmd: DenyAccessRequest, uow: UnitOfWork) -> EndUser:
    user = uow.get(EndUser, cmd.user_ref)
    user.deny_access_request(cmd.request_ref, cmd.reason, uow.meta)
    return user


class RecordProctoredSession(Command):
    """Chicago step 3: the Virtual Proctored Session review and its outcome."""

    name = "record-proctored-session"
    user_ref: Ref
    session_ref: Ref
    outcome: ProctoredOutcome
    notes: Text | None = None


def record_proctored_session(cmd: RecordProctoredSession, uow: UnitOfWork) -> EndUser:
    user = uow.get(EndUser, cmd.user_ref)
    if uow.process() is Process.CHICAGO:
        chicago_step_order(user, "proctored")
    user.record_proctored_session(cmd.session_ref, cmd.outcome, cmd.notes, uow.meta)
    return user


class RequestRole(Command):
    name = "request-role"
    user_ref: Ref
    role: Slug


def request_role(cmd: RequestRole, uow: UnitOfWork) -> EndUser:
    user = uow.get(EndUser, cmd.user_ref)
    user.request_role(cmd.role, uow.meta)
    return user


class IssueCredentials(Command):
    """Live HMIS credentials with a role. Refused when a hard rule or the policy in force says
    the user is not eligible, unless ``override_reason`` is given (then recorded)."""

    name = "issue-credentials"
    user_ref: Ref
    hmis_role: Code
    override_reason: Reason | None = None


def issue_credentials(cmd: IssueCredentials, uow: UnitOfWork) -> EndUser:
    user = uow.get(EndUser, cmd.user_ref)
    credential_gates(user, cmd.hmis_role, uow)
    missing = eligibility_gaps(user, cmd.hmis_role, cmd.override_reason, uow)
    user.issue_credentials(cmd.hmis_role, cmd.override_reason, missing, uow.meta)
    return user


def eligibility_gaps(
    user: EndUser, hmis_role: str, override_reason: str | None, uow: UnitOfWork
) -> list[str]:
    """What the policy in force finds missing for ``hmis_role``; refused unless overridden."""
    missing = uow.eligibility.missing_for(user, hmis_role, uow.meta.effective_at)
    if missing and override_reason is None:
        raise RuleViolation(
            "policy/eligible-for-role",
            f"user {user.ref} is not eligible for {hmis_role}; missing: {', '.join(missing)}",
            missing=missing,
        )
    return missing


class GrantHmisRole(Command):
    """Give a user with live credentials another HMIS role; eligibility as for issuing."""

    name = "grant-hmis-role"
    user_ref: Ref
    hmis_role: Code
    override_reason: Reason | None = None


def grant_hmis_role(cmd: GrantHmisRole, uow: UnitOfWork) -> EndUser:
    user = uow.get(EndUser, cmd.user_ref)
    credential_gates(user, cmd.hmis_role, uow)
    missing = eligibility_gaps(user, cmd.hmis_role, cmd.override_reason, uow)
    user.grant_hmis_role(cmd.hmis_role, cmd.override_reason, missing, uow.meta)
    return user


class SuspendCredentials(Command):
    name = "suspend-credentials"
    user_ref: Ref
    reason: Reason


def suspend_credentials(cmd: SuspendCredentials, uow: UnitOfWork) -> EndUser:
    user = uow.get(EndUser, cmd.user_ref)
    user.suspend_credentials(cmd.reason, uow.meta)
    return user


class ReactivateCredentials(Command):
    name = "reactivate-credentials"
    user_ref: Ref
    reason: Text | None = None


def reactivate_credentials(cmd: ReactivateCredentials, uow: UnitOfWork) -> EndUser:
    user = uow.get(EndUser, cmd.user_ref)
    credential_gates(user, user.hmis_role, uow)
    user.reactivate_credentials(cmd.reason, uow.meta)
    return user


class RevokeCredentials(Command):
    name = "revoke-credentials"
    user_ref: Ref
    reason: Reason


def revoke_credentials(cmd: RevokeCredentials, uow: UnitOfWork) -> EndUser:
    user = uow.get(EndUser, cmd.user_ref)
    user.revoke_credentials(cmd.reason, uow.meta)
    return user


class RecordLoginActivity(Command):
    """A summary of a user's log-ins over a period (from the HMIS vendor)."""

    name = "record-login-activity"
    user_ref: Ref
    period_start: Moment
    period_end: Moment
    login_count: int = Field(ge=0, le=1_000_000)
    last_login_at: Moment | None = None

    @model_validator(mode="after")
    def _period_in_order(self) -> RecordLoginActivity:
        if self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        last = self.last_login_at
        if last is not None and not self.period_start <= last <= self.period_end:
            raise ValueError("last_login_at lies outside the period")
        if (last is None) != (self.login_count == 0):
            raise ValueError("last_login_at is given exactly when login_count > 0")
        return self


def record_login_activity(cmd: RecordLoginActivity, uow: UnitOfWork) -> EndUser:
    user = uow.get(EndUser, cmd.user_ref)
    uow.require_not_future(cmd.period_end, "period_end")
    user.summarise_logins(uow.meta, **payload(cmd, "user_ref"))
    return user
