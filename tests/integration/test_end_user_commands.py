"""End users: joining and leaving agencies, courses, forms, roles, credentials, log-ins.

Most tests run in WI-500, whose hard rules put no gate before credentials, so each test
shows one command's own behaviour; the gates of the other processes have their own files.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from commands.base import Caller
from commands.end_users import (
    ApproveAccessRequest,
    EnrolInCourse,
    GrantHmisRole,
    IssueCredentials,
    ReactivateCredentials,
    RecordCourseCompletion,
    RecordDeparture,
    RecordLoginActivity,
    RegisterEndUser,
    RequestRole,
    RevokeCredentials,
    SignForm,
    SubmitAccessRequest,
    SuspendCredentials,
    TransferEndUser,
)
from commands.registry import run
from ledger.application import Ledger
from ledger.clock import FixedClock
from ledger.domain.base import Source
from ledger.domain.end_users import EndUser
from ledger.domain.vocabulary import CredentialState, FormKind, PaymentMethod
from ledger.errors import DuplicateEntity, InvalidInput, NotFound, RuleViolation
from tests.integration.builders import (
    Do,
    Wisconsin,
    agency,
    complete_course,
    happy_path,
    refused,
    rejected,
    user,
    wisconsin,
)

ADMIN = Caller(actor="hmis-admin", source=Source.API, request_id="req-admin")


def with_credentials(do: Do) -> Wisconsin:
    w = wisconsin(do)
    do(IssueCredentials(coc=w.coc, user_ref=w.user, hmis_role="ce-standard"))
    return w


def submitted_request(do: Do) -> Wisconsin:
    w = wisconsin(do)
    do(
        SubmitAccessRequest(
            coc=w.coc,
            user_ref=w.user,
            request_ref="req-1",
            projects=["Synthetic Shelter"],
            submitted_by="wi-supervisor",
        )
    )
    return w


# --- joining and leaving -------------------------------------------------------------------


@happy_path(RegisterEndUser)
def test_register_end_user_adds_the_user_to_the_agency_staff(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)

    receipt = do(
        RegisterEndUser(
            coc=w.coc,
            user_ref="wi-user-2",
            agency_ref=w.agency,
            person_name="Test Person Two",
            email="two@example.org",
        )
    )

    subject = user(ledger, w.coc, "wi-user-2")
    assert receipt.entity_id == subject.id
    assert subject.agency_ref == w.agency
    assert subject.credentials is CredentialState.NONE
    registered = subject.last(EndUser.Registered)
    assert registered is not None
    assert (registered.name, registered.email) == ("Test Person Two", "two@example.org")
    assert agency(ledger, w.coc, w.agency).staff() == {w.user, "wi-user-2"}
    assert {e.entity_id for e in receipt.events} == {subject.id, agency(ledger, w.coc, w.agency).id}


@happy_path(RecordDeparture)
def test_record_departure_leaves_the_user_without_agency(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)

    do(RecordDeparture(coc=w.coc, user_ref=w.user, reason="moved away"))

    subject = user(ledger, w.coc, w.user)
    assert subject.agency_ref is None
    departed = subject.last(EndUser.DepartedAgency)
    assert departed is not None
    assert (departed.agency_ref, departed.reason) == (w.agency, "moved away")
    assert agency(ledger, w.coc, w.agency).staff() == set()


@happy_path(TransferEndUser)
def test_transfer_end_user_moves_a_departed_user_keeping_their_training(
    ledger: Ledger, do: Do
) -> None:
    w = wisconsin(do)
    complete_course(do, w.coc, w.user, "WI-CE-101")
    do(RecordDeparture(coc=w.coc, user_ref=w.user))

    do(TransferEndUser(coc=w.coc, user_ref=w.user, agency_ref=w.other_agency))

    subject = user(ledger, w.coc, w.user)
    assert subject.agency_ref == w.other_agency
    assert subject.completed_course_codes() == {"WI-CE-101"}
    assert agency(ledger, w.coc, w.other_agency).staff() == {w.user}
    assert agency(ledger, w.coc, w.agency).staff() == set()


def test_a_user_works_for_one_agency_at_a_time(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)

    refused(
        ledger,
        do,
        TransferEndUser(coc=w.coc, user_ref=w.user, agency_ref=w.other_agency),
        "user/one-agency-at-a-time",
    )


def test_a_departed_user_cannot_depart_again(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)
    do(RecordDeparture(coc=w.coc, user_ref=w.user))

    refused(ledger, do, RecordDeparture(coc=w.coc, user_ref=w.user), "user/member-of-agency")


def test_a_user_ref_is_registered_only_once_per_coc(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)

    rejected(
        ledger,
        do,
        RegisterEndUser(coc=w.coc, user_ref=w.user, agency_ref=w.other_agency),
        DuplicateEntity,
    )


def test_registering_a_user_at_an_unknown_agency_is_not_found(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)

    rejected(
        ledger,
        do,
        RegisterEndUser(coc=w.coc, user_ref="wi-user-9", agency_ref="wi-nobody"),
        NotFound,
    )


def test_transferring_to_an_unknown_agency_is_not_found(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)
    do(RecordDeparture(coc=w.coc, user_ref=w.user))

    rejected(
        ledger, do, TransferEndUser(coc=w.coc, user_ref=w.user, agency_ref="wi-nobody"), NotFound
    )


# --- courses and forms -----------------------------------------------------------------------


@happy_path(EnrolInCourse)
def test_enrol_in_course_records_provider_payment_and_fee(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)

    do(
        EnrolInCourse(
            coc=w.coc,
            user_ref=w.user,
            course_code="WI-CE-101",
            course_title="CE Basics",
            provider="Synthetic LMS",
            payment=PaymentMethod.INVOICE,
            fee_cents=2500,
        )
    )

    enrolled = user(ledger, w.coc, w.user).last(EndUser.CourseEnrolled)
    assert enrolled is not None
    assert (enrolled.course_code, enrolled.provider, enrolled.payment, enrolled.fee_cents) == (
        "WI-CE-101",
        "Synthetic LMS",
        PaymentMethod.INVOICE,
        2500,
    )


@happy_path(RecordCourseCompletion)
def test_record_course_completion_records_the_completion_at_its_effective_time(
    ledger: Ledger, do: Do, clock: FixedClock
) -> None:
    w = wisconsin(do)
    completed_at = clock.now() - timedelta(days=17)

    do(
        RecordCourseCompletion(
            coc=w.coc,
            user_ref=w.user,
            course_code="WI-CE-101",
            provider="Synthetic LMS",
            certificate_id="CERT-9",
            score=92.5,
            source_record_id="ach-9",
            effective_at=completed_at,
        )
    )

    [completion] = user(ledger, w.coc, w.user).completed("WI-CE-101")
    assert (completion.certificate_id, completion.score) == ("CERT-9", 92.5)
    assert completion.effective_at == completed_at
    assert completion.recorded_at == clock.now()


def test_the_same_lms_completion_is_recorded_only_once(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)
    complete_course(do, w.coc, w.user, "WI-CE-101", source_record_id="ach-1")

    refused(
        ledger,
        do,
        RecordCourseCompletion(
            coc=w.coc,
            user_ref=w.user,
            course_code="WI-CE-101",
            provider="Synthetic LMS",
            source_record_id="ach-1",
        ),
        "user/completion-once",
    )


def test_completions_without_an_lms_id_may_repeat(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)
    complete_course(do, w.coc, w.user, "WI-CE-101")

    complete_course(do, w.coc, w.user, "WI-CE-101")

    assert len(user(ledger, w.coc, w.user).completed("WI-CE-101")) == 2


@happy_path(SignForm)
def test_sign_form_records_the_form_and_revision(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)

    do(SignForm(coc=w.coc, user_ref=w.user, form=FormKind.USER_AGREEMENT, revision="2026"))

    [signed] = user(ledger, w.coc, w.user).facts(EndUser.FormSigned)
    assert (signed.form, signed.revision) == (FormKind.USER_AGREEMENT, "2026")


def test_a_form_revision_is_signed_only_once(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)
    do(SignForm(coc=w.coc, user_ref=w.user, form=FormKind.USER_AGREEMENT, revision="2026"))

    refused(
        ledger,
        do,
        SignForm(coc=w.coc, user_ref=w.user, form=FormKind.USER_AGREEMENT, revision="2026"),
        "user/form-sign-once",
    )


def test_a_new_form_revision_may_be_signed(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)
    do(SignForm(coc=w.coc, user_ref=w.user, form=FormKind.USER_AGREEMENT, revision="2026"))

    do(SignForm(coc=w.coc, user_ref=w.user, form=FormKind.USER_AGREEMENT, revision="2027"))

    revisions = [f.revision for f in user(ledger, w.coc, w.user).facts(EndUser.FormSigned)]
    assert revisions == ["2026", "2027"]


# --- access requests outside Missouri --------------------------------------------------------


def test_an_access_request_ref_is_used_only_once(ledger: Ledger, do: Do) -> None:
    w = submitted_request(do)

    refused(
        ledger,
        do,
        SubmitAccessRequest(
            coc=w.coc,
            user_ref=w.user,
            request_ref="req-1",
            projects=["Other"],
            submitted_by="wi-supervisor",
        ),
        "user/access-request-ref-unique",
    )


def test_an_access_request_is_decided_only_once(ledger: Ledger, do: Do) -> None:
    w = submitted_request(do)
    do(ApproveAccessRequest(coc=w.coc, user_ref=w.user, request_ref="req-1"))

    refused(
        ledger,
        do,
        ApproveAccessRequest(coc=w.coc, user_ref=w.user, request_ref="req-1"),
        "user/access-request-decided-once",
    )


def test_deciding_an_unknown_access_request_is_not_found(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)

    rejected(
        ledger, do, ApproveAccessRequest(coc=w.coc, user_ref=w.user, request_ref="req-9"), NotFound
    )


def test_a_departed_user_cannot_get_an_access_request(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)
    do(RecordDeparture(coc=w.coc, user_ref=w.user))

    refused(
        ledger,
        do,
        SubmitAccessRequest(
            coc=w.coc,
            user_ref=w.user,
            request_ref="req-1",
            projects=["Synthetic Shelter"],
            submitted_by="wi-supervisor",
        ),
        "user/member-of-agency",
    )


# --- roles and credentials -------------------------------------------------------------------


@happy_path(RequestRole)
def test_request_role_records_the_requested_role(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)

    do(RequestRole(coc=w.coc, user_ref=w.user, role="ce-assessor"))

    [requested] = user(ledger, w.coc, w.user).facts(EndUser.RoleRequested)
    assert requested.role == "ce-assessor"


def test_a_departed_user_cannot_request_a_role(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)
    do(RecordDeparture(coc=w.coc, user_ref=w.user))

    refused(
        ledger,
        do,
        RequestRole(coc=w.coc, user_ref=w.user, role="ce-assessor"),
        "user/member-of-agency",
    )


@happy_path(IssueCredentials)
def test_issue_credentials_makes_them_active_with_the_role(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)

    do(IssueCredentials(coc=w.coc, user_ref=w.user, hmis_role="ce-standard"))

    subject = user(ledger, w.coc, w.user)
    assert subject.credentials is CredentialState.ACTIVE
    issued = subject.last(EndUser.CredentialsIssued)
    assert issued is not None
    assert (issued.hmis_role, issued.override_reason, issued.missing_at_issue) == (
        "ce-standard",
        None,
        [],
    )


@happy_path(SuspendCredentials)
def test_suspend_credentials_suspends_active_credentials(ledger: Ledger, do: Do) -> None:
    w = with_credentials(do)

    do(SuspendCredentials(coc=w.coc, user_ref=w.user, reason="inactive 30 days"))

    subject = user(ledger, w.coc, w.user)
    assert subject.credentials is CredentialState.SUSPENDED
    suspended = subject.last(EndUser.CredentialsSuspended)
    assert suspended is not None
    assert (suspended.hmis_role, suspended.reason) == ("ce-standard", "inactive 30 days")


@happy_path(ReactivateCredentials)
def test_reactivate_credentials_restores_suspended_credentials(ledger: Ledger, do: Do) -> None:
    w = with_credentials(do)
    do(SuspendCredentials(coc=w.coc, user_ref=w.user, reason="inactive 30 days"))

    do(ReactivateCredentials(coc=w.coc, user_ref=w.user, reason="refresher completed"))

    assert user(ledger, w.coc, w.user).credentials is CredentialState.ACTIVE


@happy_path(RevokeCredentials)
def test_revoke_credentials_revokes_held_credentials(ledger: Ledger, do: Do) -> None:
    w = with_credentials(do)

    do(RevokeCredentials(coc=w.coc, user_ref=w.user, reason="left the agency"))

    subject = user(ledger, w.coc, w.user)
    assert subject.credentials is CredentialState.REVOKED
    revoked = subject.last(EndUser.CredentialsRevoked)
    assert revoked is not None
    assert revoked.hmis_role == "ce-standard"


def test_suspended_credentials_can_be_revoked(ledger: Ledger, do: Do) -> None:
    w = with_credentials(do)
    do(SuspendCredentials(coc=w.coc, user_ref=w.user, reason="inactive 30 days"))

    do(RevokeCredentials(coc=w.coc, user_ref=w.user, reason="inactive 90 days"))

    assert user(ledger, w.coc, w.user).credentials is CredentialState.REVOKED


def test_credentials_can_be_issued_again_after_revocation(ledger: Ledger, do: Do) -> None:
    w = with_credentials(do)
    do(RevokeCredentials(coc=w.coc, user_ref=w.user, reason="inactive 90 days"))

    do(IssueCredentials(coc=w.coc, user_ref=w.user, hmis_role="ce-standard"))

    assert user(ledger, w.coc, w.user).credentials is CredentialState.ACTIVE


def test_credentials_are_not_issued_twice(ledger: Ledger, do: Do) -> None:
    w = with_credentials(do)

    refused(
        ledger,
        do,
        IssueCredentials(coc=w.coc, user_ref=w.user, hmis_role="ce-standard"),
        "credentials/issue-once",
    )


def test_suspended_credentials_are_not_issued_again(ledger: Ledger, do: Do) -> None:
    w = with_credentials(do)
    do(SuspendCredentials(coc=w.coc, user_ref=w.user, reason="inactive 30 days"))

    refused(
        ledger,
        do,
        IssueCredentials(coc=w.coc, user_ref=w.user, hmis_role="ce-standard"),
        "credentials/issue-once",
    )


def test_only_active_credentials_are_suspended(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)

    refused(
        ledger,
        do,
        SuspendCredentials(coc=w.coc, user_ref=w.user, reason="inactive"),
        "credentials/suspend-active-only",
    )


def test_only_suspended_credentials_are_reactivated(ledger: Ledger, do: Do) -> None:
    w = with_credentials(do)

    refused(
        ledger,
        do,
        ReactivateCredentials(coc=w.coc, user_ref=w.user),
        "credentials/reactivate-suspended-only",
    )


def test_revoked_credentials_are_not_reactivated(ledger: Ledger, do: Do) -> None:
    w = with_credentials(do)
    do(RevokeCredentials(coc=w.coc, user_ref=w.user, reason="left the agency"))

    refused(
        ledger,
        do,
        ReactivateCredentials(coc=w.coc, user_ref=w.user),
        "credentials/reactivate-suspended-only",
    )


def test_only_held_credentials_are_revoked(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)

    refused(
        ledger,
        do,
        RevokeCredentials(coc=w.coc, user_ref=w.user, reason="never issued"),
        "credentials/revoke-held-only",
    )


def test_a_departed_user_gets_no_credentials(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)
    do(RecordDeparture(coc=w.coc, user_ref=w.user))

    refused(
        ledger,
        do,
        IssueCredentials(coc=w.coc, user_ref=w.user, hmis_role="ce-standard"),
        "user/member-of-agency",
    )


class MissingSecurityTraining:
    """A policy under which every user lacks one clause."""

    def missing_for(self, user: EndUser, hmis_role: str, as_of: datetime) -> list[str]:
        return ["WI-500/security-training"]


def test_a_policy_finding_something_missing_refuses_credentials(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)
    head = ledger.head()

    with pytest.raises(RuleViolation) as err:
        run(
            ledger,
            IssueCredentials(coc=w.coc, user_ref=w.user, hmis_role="ce-standard"),
            ADMIN,
            eligibility=MissingSecurityTraining(),
        )

    assert err.value.rule == "policy/eligible-for-role"
    assert err.value.details["missing"] == ["WI-500/security-training"]
    assert ledger.head() == head


def test_an_override_reason_issues_credentials_and_records_what_was_missing(
    ledger: Ledger, do: Do
) -> None:
    w = wisconsin(do)

    run(
        ledger,
        IssueCredentials(
            coc=w.coc,
            user_ref=w.user,
            hmis_role="ce-standard",
            override_reason="training booked for next week",
        ),
        ADMIN,
        eligibility=MissingSecurityTraining(),
    )

    subject = user(ledger, w.coc, w.user)
    assert subject.credentials is CredentialState.ACTIVE
    issued = subject.last(EndUser.CredentialsIssued)
    assert issued is not None
    assert issued.override_reason == "training booked for next week"
    assert issued.missing_at_issue == ["WI-500/security-training"]
    assert issued.actor == "hmis-admin"


# --- log-in activity -------------------------------------------------------------------------


@happy_path(RecordLoginActivity)
def test_record_login_activity_stores_the_period_summary(
    ledger: Ledger, do: Do, clock: FixedClock
) -> None:
    w = with_credentials(do)
    start = clock.now() - timedelta(days=7)
    last_login = clock.now() - timedelta(days=1)

    do(
        RecordLoginActivity(
            coc=w.coc,
            user_ref=w.user,
            period_start=start,
            period_end=clock.now(),
            login_count=4,
            last_login_at=last_login,
        )
    )

    [summary] = user(ledger, w.coc, w.user).facts(EndUser.LoginActivitySummarised)
    assert (summary.period_start, summary.period_end) == (start, clock.now())
    assert (summary.login_count, summary.last_login_at) == (4, last_login)


def test_login_activity_of_a_period_not_yet_over_is_refused(
    ledger: Ledger, do: Do, clock: FixedClock
) -> None:
    w = with_credentials(do)

    rejected(
        ledger,
        do,
        RecordLoginActivity(
            coc=w.coc,
            user_ref=w.user,
            period_start=clock.now() - timedelta(days=1),
            period_end=clock.now() + timedelta(days=6),
            login_count=0,
        ),
        InvalidInput,
    )


@happy_path(GrantHmisRole)
def test_grant_hmis_role_gives_live_credentials_another_role(ledger: Ledger, do: Do) -> None:
    w = with_credentials(do)

    do(GrantHmisRole(coc=w.coc, user_ref=w.user, hmis_role="ce-coordinator"))

    subject = user(ledger, w.coc, w.user)
    granted = subject.last(EndUser.HmisRoleGranted)
    assert granted is not None
    assert (granted.previous_role, granted.hmis_role) == ("ce-standard", "ce-coordinator")
    assert subject.hmis_role == "ce-coordinator"


def test_a_role_is_granted_only_to_live_credentials(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)

    refused(
        ledger,
        do,
        GrantHmisRole(coc=w.coc, user_ref=w.user, hmis_role="ce-coordinator"),
        "credentials/grant-role-to-active-only",
    )
