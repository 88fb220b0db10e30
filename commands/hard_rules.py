"""Hard rules of the seed processes, enforced when a command is issued.

Each raises :class:`RuleViolation` naming its clause. Course codes are those of the demo
catalogues; the versioned policy packs replace them with data.
"""

from __future__ import annotations

from commands.runtime import UnitOfWork
from ledger.domain.agreements import Agreement, agreement_ref
from ledger.domain.end_users import EndUser
from ledger.domain.organisations import Agency
from ledger.domain.vocabulary import AgreementKind, Process, ProctoredOutcome
from ledger.errors import RuleViolation

MO_ASSESSOR_COURSE = "MO-CE-ASSESSOR"
IL_INTRO_COURSE = "IL-HMIS-INTRO"
IL_READ_ONLY_INTRO_COURSE = "IL-HMIS-INTRO-RO"
IL_PROJECT_COURSE_PREFIX = "IL-PROJ-"
IL_READ_ONLY_ROLE = "read-only"


def mou_only_after_assessor_training(agency: Agency, uow: UnitOfWork) -> None:
    """MO-606: a CE MOU may be signed only after someone of the agency completed the
    CE Assessor Training."""
    for user_ref in sorted(agency.staff()):
        user = uow.find(EndUser, user_ref)
        if user is not None and user.completed(MO_ASSESSOR_COURSE):
            return
    raise RuleViolation(
        "MO-606/ce-mou/after-assessor-training",
        f"no one at agency {agency.ref} has completed {MO_ASSESSOR_COURSE} yet; the MOU can be "
        "signed once someone has",
    )


def uar_with_assessor_certificate(user: EndUser) -> None:
    """MO-606: the User Access Request comes with the user's LITMOS certificate."""
    if not user.completed(MO_ASSESSOR_COURSE):
        raise RuleViolation(
            "MO-606/uar/litmos-certificate",
            f"user {user.ref} has no completed {MO_ASSESSOR_COURSE} certificate to submit "
            "with the access request",
        )


def chicago_step_order(
    user: EndUser, step: str, course_code: str | None = None, hmis_role: str | None = None
) -> None:
    """IL-510: request for training, LMS courses, proctored session, credentials: in order."""
    if not any(True for _ in user.facts(EndUser.TrainingRequested)):
        raise RuleViolation(
            "IL-510/step-1/training-request-first",
            f"an ATA must file the training request for {user.ref} first",
        )
    if step == "course":
        assert course_code is not None
        if course_code.startswith(IL_PROJECT_COURSE_PREFIX) and not user.completed(IL_INTRO_COURSE):
            raise RuleViolation(
                "IL-510/step-2/intro-first",
                f"{course_code} is restricted until {IL_INTRO_COURSE} is complete",
            )
        return
    has_project_course = any(
        c.startswith(IL_PROJECT_COURSE_PREFIX) for c in user.completed_course_codes()
    )
    courses_done = bool(user.completed(IL_INTRO_COURSE)) and has_project_course
    if step == "proctored":
        if not courses_done:
            raise RuleViolation(
                "IL-510/step-3/courses-first",
                f"the proctored session follows {IL_INTRO_COURSE} and a project-specific course",
            )
        return
    if step == "credentials":
        read_only_path = hmis_role == IL_READ_ONLY_ROLE and bool(
            user.completed(IL_READ_ONLY_INTRO_COURSE, IL_INTRO_COURSE)
        )
        if read_only_path:
            return
        outcomes = user.proctored_outcomes()
        if not outcomes or outcomes[-1] is not ProctoredOutcome.PASSED:
            raise RuleViolation(
                "IL-510/step-4/proctored-pass-first",
                "live credentials follow a proctored session whose latest outcome is a pass "
                "(read-only users: the alternate introduction)",
            )


def lahsa_org_gates(user: EndUser, uow: UnitOfWork) -> None:
    """CA-600: steps 1 and 2 (organisation agreement, program set-up) before any user access."""
    agency_ref = user.agency_ref
    if agency_ref is None:
        raise RuleViolation(
            "user/member-of-agency", f"user {user.ref} has left their agency; record a join first"
        )
    agreement = uow.find(Agreement, agreement_ref(AgreementKind.ORGANIZATION_AGREEMENT, agency_ref))
    if agreement is None or not agreement.fully_executed:
        raise RuleViolation(
            "CA-600/step-1/organization-agreement",
            f"agency {agency_ref} has no fully executed Organization Agreement",
        )
    if not uow.get(Agency, agency_ref).program_setup_confirmed():
        raise RuleViolation(
            "CA-600/step-2/program-setup",
            f"agency {agency_ref}'s program set-up is not confirmed by the lead",
        )


def missouri_uar_approved(user: EndUser) -> None:
    """MO-606: HMIS access only after ICA approved a User Access Request."""
    if "approved" not in user.access_requests().values():
        raise RuleViolation(
            "MO-606/hmis-access/after-uar-approval",
            f"user {user.ref} has no approved User Access Request",
        )


def credential_gates(user: EndUser, hmis_role: str, uow: UnitOfWork) -> None:
    """Every hard rule that must hold before a user gets live credentials."""
    process = uow.process()
    if process is Process.CHICAGO:
        chicago_step_order(user, "credentials", hmis_role=hmis_role)
    elif process is Process.LAHSA:
        lahsa_org_gates(user, uow)
    elif process is Process.MISSOURI_BOS:
        missouri_uar_approved(user)
