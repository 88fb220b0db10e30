"""IL-510 (Chicago): request for training, LMS courses, proctored session, credentials, in order."""

from __future__ import annotations

from commands.end_users import (
    EnrolInCourse,
    IssueCredentials,
    RecordCourseCompletion,
    RecordProctoredSession,
    RequestTraining,
)
from commands.hard_rules import IL_INTRO_COURSE, IL_READ_ONLY_INTRO_COURSE, IL_READ_ONLY_ROLE
from ledger.application import Ledger
from ledger.domain.end_users import EndUser
from ledger.domain.vocabulary import CredentialState, PaymentMethod, ProctoredOutcome
from tests.integration.builders import (
    IL_PROJECT_COURSE,
    Do,
    chicago,
    complete_course,
    happy_path,
    il_through_step,
    il_training_request,
    refused,
    user,
)

# --- step 1: request for training ------------------------------------------------------------


@happy_path(RequestTraining)
def test_request_training_files_the_ticket_with_the_lms_username(ledger: Ledger, do: Do) -> None:
    w = chicago(do)

    il_training_request(do, w, lms_username="il.user.one")

    [ticket] = user(ledger, w.coc, w.user).facts(EndUser.TrainingRequested)
    assert (ticket.ticket_ref, ticket.lms_username, ticket.requested_by) == (
        "ticket-1",
        "il.user.one",
        w.ata,
    )
    assert ticket.projects == ["Synthetic Shelter"]


def test_a_second_request_may_reuse_the_same_lms_account(ledger: Ledger, do: Do) -> None:
    w = chicago(do)
    il_training_request(do, w, lms_username="il.user.one")

    il_training_request(do, w, lms_username="il.user.one", ticket_ref="ticket-2")

    assert len(list(user(ledger, w.coc, w.user).facts(EndUser.TrainingRequested))) == 2


def test_a_user_keeps_exactly_one_lms_account(ledger: Ledger, do: Do) -> None:
    w = chicago(do)
    il_training_request(do, w, lms_username="il.user.one")

    refused(
        ledger,
        do,
        RequestTraining(
            coc=w.coc,
            user_ref=w.user,
            ticket_ref="ticket-2",
            person_name="Test Person Chicago",
            agency_email="il-user-1@example.org",
            lms_username="il.user.one.new",
            expected_responsibilities=["intake"],
            projects=["Synthetic Shelter"],
            requested_by=w.ata,
        ),
        "IL-510/step-1/one-lms-account",
    )


def test_no_course_enrolment_before_the_training_request(ledger: Ledger, do: Do) -> None:
    w = chicago(do)

    refused(
        ledger,
        do,
        EnrolInCourse(
            coc=w.coc, user_ref=w.user, course_code=IL_INTRO_COURSE, provider="Talent LMS"
        ),
        "IL-510/step-1/training-request-first",
    )


def test_no_course_completion_before_the_training_request(ledger: Ledger, do: Do) -> None:
    w = chicago(do)

    refused(
        ledger,
        do,
        RecordCourseCompletion(
            coc=w.coc, user_ref=w.user, course_code=IL_INTRO_COURSE, provider="Talent LMS"
        ),
        "IL-510/step-1/training-request-first",
    )


def test_no_credentials_before_the_training_request(ledger: Ledger, do: Do) -> None:
    w = chicago(do)

    refused(
        ledger,
        do,
        IssueCredentials(coc=w.coc, user_ref=w.user, hmis_role="case-manager"),
        "IL-510/step-1/training-request-first",
    )


# --- step 2: LMS courses ---------------------------------------------------------------------


def test_enrolment_in_a_project_course_is_paid_per_course(ledger: Ledger, do: Do) -> None:
    w = chicago(do)
    il_training_request(do, w)
    complete_course(do, w.coc, w.user, IL_INTRO_COURSE, score=100)

    do(
        EnrolInCourse(
            coc=w.coc,
            user_ref=w.user,
            course_code=IL_PROJECT_COURSE,
            provider="Talent LMS",
            payment=PaymentMethod.TRAINING_CREDIT,
            fee_cents=2500,
        )
    )

    enrolled = user(ledger, w.coc, w.user).last(EndUser.CourseEnrolled)
    assert enrolled is not None
    assert (enrolled.course_code, enrolled.payment, enrolled.fee_cents) == (
        IL_PROJECT_COURSE,
        PaymentMethod.TRAINING_CREDIT,
        2500,
    )


def test_project_course_enrolment_waits_for_the_introduction(ledger: Ledger, do: Do) -> None:
    w = chicago(do)
    il_training_request(do, w)

    refused(
        ledger,
        do,
        EnrolInCourse(
            coc=w.coc, user_ref=w.user, course_code=IL_PROJECT_COURSE, provider="Talent LMS"
        ),
        "IL-510/step-2/intro-first",
    )


def test_project_course_completion_waits_for_the_introduction(ledger: Ledger, do: Do) -> None:
    w = chicago(do)
    il_training_request(do, w)

    refused(
        ledger,
        do,
        RecordCourseCompletion(
            coc=w.coc, user_ref=w.user, course_code=IL_PROJECT_COURSE, provider="Talent LMS"
        ),
        "IL-510/step-2/intro-first",
    )


# --- step 3: proctored session ---------------------------------------------------------------


@happy_path(RecordProctoredSession)
def test_record_proctored_session_records_its_outcome(ledger: Ledger, do: Do) -> None:
    w = chicago(do)
    il_through_step(do, w, 2)

    do(
        RecordProctoredSession(
            coc=w.coc,
            user_ref=w.user,
            session_ref="vps-1",
            outcome=ProctoredOutcome.CORRECTIONS_NEEDED,
            notes="two fields missing on the sample client",
        )
    )

    subject = user(ledger, w.coc, w.user)
    assert subject.proctored_outcomes() == [ProctoredOutcome.CORRECTIONS_NEEDED]
    session = subject.last(EndUser.ProctoredSessionRecorded)
    assert session is not None
    assert session.notes == "two fields missing on the sample client"


def test_proctored_session_needs_the_introduction_and_a_project_course(
    ledger: Ledger, do: Do
) -> None:
    w = chicago(do)
    il_training_request(do, w)
    complete_course(do, w.coc, w.user, IL_INTRO_COURSE)

    refused(
        ledger,
        do,
        RecordProctoredSession(
            coc=w.coc, user_ref=w.user, session_ref="vps-1", outcome=ProctoredOutcome.PASSED
        ),
        "IL-510/step-3/courses-first",
    )


# --- step 4: live credentials ----------------------------------------------------------------


def test_credentials_need_a_passed_proctored_session(ledger: Ledger, do: Do) -> None:
    w = chicago(do)
    il_through_step(do, w, 2)
    do(
        RecordProctoredSession(
            coc=w.coc, user_ref=w.user, session_ref="vps-1", outcome=ProctoredOutcome.REDO_REQUIRED
        )
    )

    refused(
        ledger,
        do,
        IssueCredentials(coc=w.coc, user_ref=w.user, hmis_role="case-manager"),
        "IL-510/step-4/proctored-pass-first",
    )


def test_credentials_follow_the_four_steps_in_order(ledger: Ledger, do: Do) -> None:
    w = chicago(do)
    il_through_step(do, w, 3)

    do(IssueCredentials(coc=w.coc, user_ref=w.user, hmis_role="case-manager"))

    subject = user(ledger, w.coc, w.user)
    assert subject.credentials is CredentialState.ACTIVE
    assert subject.proctored_outcomes() == [ProctoredOutcome.PASSED]


def test_a_redo_then_a_pass_opens_credentials(ledger: Ledger, do: Do) -> None:
    w = chicago(do)
    il_through_step(do, w, 2)
    do(
        RecordProctoredSession(
            coc=w.coc, user_ref=w.user, session_ref="vps-1", outcome=ProctoredOutcome.REDO_REQUIRED
        )
    )
    do(
        RecordProctoredSession(
            coc=w.coc, user_ref=w.user, session_ref="vps-2", outcome=ProctoredOutcome.PASSED
        )
    )

    do(IssueCredentials(coc=w.coc, user_ref=w.user, hmis_role="case-manager"))

    assert user(ledger, w.coc, w.user).credentials is CredentialState.ACTIVE


def test_read_only_users_get_credentials_after_the_alternate_introduction(
    ledger: Ledger, do: Do
) -> None:
    w = chicago(do)
    il_training_request(do, w)
    complete_course(do, w.coc, w.user, IL_READ_ONLY_INTRO_COURSE)

    do(IssueCredentials(coc=w.coc, user_ref=w.user, hmis_role=IL_READ_ONLY_ROLE))

    assert user(ledger, w.coc, w.user).credentials is CredentialState.ACTIVE


def test_the_alternate_introduction_does_not_open_other_roles(ledger: Ledger, do: Do) -> None:
    w = chicago(do)
    il_training_request(do, w)
    complete_course(do, w.coc, w.user, IL_READ_ONLY_INTRO_COURSE)

    refused(
        ledger,
        do,
        IssueCredentials(coc=w.coc, user_ref=w.user, hmis_role="case-manager"),
        "IL-510/step-4/proctored-pass-first",
    )


def test_read_only_role_still_needs_an_introduction(ledger: Ledger, do: Do) -> None:
    w = chicago(do)
    il_training_request(do, w)

    refused(
        ledger,
        do,
        IssueCredentials(coc=w.coc, user_ref=w.user, hmis_role=IL_READ_ONLY_ROLE),
        "IL-510/step-4/proctored-pass-first",
    )


def test_a_pass_followed_by_a_redo_closes_credentials_again(ledger: Ledger, do: Do) -> None:
    w = chicago(do)
    il_through_step(do, w, 3)
    do(
        RecordProctoredSession(
            coc=w.coc, user_ref=w.user, session_ref="vps-2", outcome=ProctoredOutcome.REDO_REQUIRED
        )
    )

    refused(
        ledger,
        do,
        IssueCredentials(coc=w.coc, user_ref=w.user, hmis_role="case-manager"),
        "IL-510/step-4/proctored-pass-first",
    )
