"""Commands that link a learning platform's accounts and courses to the CoC's users and course
codes, and retry the completions held in the CoC's inbox (each link retries them too)."""

from __future__ import annotations

from pydantic import Field, model_validator

from commands.base import Command
from commands.lms_matching import policy_names_course, retry_held
from commands.runtime import UnitOfWork
from ledger.domain.end_users import EndUser
from ledger.domain.lms import LmsAccount, LmsCourse, LmsInbox, LmsKeyKind, LmsProvider, lms_key
from ledger.domain.vocabulary import Code, Ref, Text
from ledger.errors import NotFound, RuleViolation


class LinkLmsAccount(Command):
    """An LMS account (its user id, its login, or both) belongs to this user. Completions held
    for it are recorded on the user in the same transaction."""

    name = "link-lms-account"
    user_ref: Ref
    provider: LmsProvider
    lms_user_id: Text | None = Field(default=None, description="the LMS's own id of the user")
    lms_login: Text | None = Field(
        default=None, description="the LMS username or e-mail (compared without case)"
    )

    @model_validator(mode="after")
    def _some_key(self) -> LinkLmsAccount:
        if self.lms_user_id is None and self.lms_login is None:
            raise ValueError("give lms_user_id, lms_login, or both")
        return self


def link_lms_account(cmd: LinkLmsAccount, uow: UnitOfWork) -> LmsAccount:
    uow.get(EndUser, cmd.user_ref)
    accounts: list[LmsAccount] = []
    for kind, value in ((LmsKeyKind.USER_ID, cmd.lms_user_id), (LmsKeyKind.LOGIN, cmd.lms_login)):
        if value is None:
            continue
        key = lms_key(kind, value)
        account = uow.find(LmsAccount, cmd.provider, kind, key)
        if account is None:
            account = uow.create(
                LmsAccount.link(cmd.provider, kind, key, cmd.user_ref, uow.meta),
                cmd.provider,
                kind,
                key,
            )
        elif account.user_ref != cmd.user_ref:
            account.relink(cmd.user_ref, uow.meta)
        accounts.append(account)
    if not any(a.pending_events for a in accounts):
        raise RuleViolation(
            "lms/link-changes", f"the account is already linked to {cmd.user_ref}; nothing to do"
        )
    user_id = cmd.lms_user_id and lms_key(LmsKeyKind.USER_ID, cmd.lms_user_id)
    login = cmd.lms_login and lms_key(LmsKeyKind.LOGIN, cmd.lms_login)

    def names_the_account(held: LmsInbox.CompletionHeld) -> bool:
        logins = {lms_key(LmsKeyKind.LOGIN, v) for v in (held.lms_login, held.lms_email) if v}
        return held.provider == cmd.provider and (
            held.lms_user_id.strip() == user_id or login in logins
        )

    retry_held(uow, names_the_account)
    return accounts[0]


class LinkLmsCourse(Command):
    """An LMS course (by the LMS's own course id) is this course code of the CoC's policy
    packs. Completions held for it are recorded in the same transaction."""

    name = "link-lms-course"
    provider: LmsProvider
    lms_course_id: Text
    course_code: Code


def link_lms_course(cmd: LinkLmsCourse, uow: UnitOfWork) -> LmsCourse:
    if not policy_names_course(uow.ledger, cmd.coc, cmd.course_code):
        raise RuleViolation(
            "lms/course-in-policy",
            f"no policy pack of {cmd.coc} names course {cmd.course_code!r}",
        )
    course_id = cmd.lms_course_id.strip()
    course = uow.find(LmsCourse, cmd.provider, course_id)
    if course is None:
        course = uow.create(
            LmsCourse.link(cmd.provider, course_id, cmd.course_code, uow.meta),
            cmd.provider,
            course_id,
        )
    else:
        course.relink(cmd.course_code, uow.meta)
    retry_held(
        uow,
        lambda held: (
            held.provider == cmd.provider and (held.lms_course_id or "").strip() == course_id
        ),
    )
    return course


class RematchLmsCompletions(Command):
    """Try every completion held in the CoC's inbox again (after a user's earlier steps were
    recorded, or a new policy pack names a course)."""

    name = "rematch-lms-completions"
    provider: LmsProvider | None = Field(default=None, description="only this LMS's; all if unset")


def rematch_lms_completions(cmd: RematchLmsCompletions, uow: UnitOfWork) -> LmsInbox:
    inbox = uow.find(LmsInbox)
    if inbox is None:
        raise NotFound(f"no LMS completion has been held in {cmd.coc}", kind="lms-inbox")
    provider = cmd.provider
    released, still_held = retry_held(
        uow, None if provider is None else lambda held: held.provider == provider
    )
    inbox.rematch_run(released, still_held, uow.meta)
    return inbox
