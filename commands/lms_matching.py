"""Matching a delivered LMS completion: the learner through linked LMS accounts, the course
through the CoC's policy packs or a linked LMS course; recording it on the user under the
hard rules, or saying why it is held; and retrying the completions held in the inbox."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from commands.hard_rules import chicago_step_order
from commands.runtime import UnitOfWork
from ledger.application import Ledger
from ledger.domain.base import EventMeta
from ledger.domain.end_users import EndUser
from ledger.domain.lms import (
    HoldReason,
    LmsAccount,
    LmsCompletion,
    LmsCourse,
    LmsInbox,
    LmsKeyKind,
    LmsProvider,
    lms_key,
)
from ledger.domain.vocabulary import Process
from ledger.errors import RuleViolation
from ledger.policy.model import TrainingClause

PROVIDER_NAMES = {LmsProvider.LITMOS: "Litmos", LmsProvider.TALENT_LMS: "Talent LMS"}


class CompletionFacts(Protocol):
    """What matching reads of a completion, whether just delivered or held earlier."""

    @property
    def provider(self) -> LmsProvider: ...
    @property
    def source_id(self) -> str: ...
    @property
    def lms_user_id(self) -> str: ...
    @property
    def lms_login(self) -> str | None: ...
    @property
    def lms_email(self) -> str | None: ...
    @property
    def lms_course_id(self) -> str | None: ...
    @property
    def course_code(self) -> str | None: ...
    @property
    def course_title(self) -> str | None: ...
    @property
    def certificate_id(self) -> str | None: ...
    @property
    def score(self) -> float | None: ...


@dataclass(frozen=True)
class Settlement:
    user_ref: str | None
    course_code: str | None
    reason: HoldReason | None = None
    detail: str = ""


def linked_user(uow: UnitOfWork, facts: CompletionFacts) -> str | None:
    """The user an LMS account link names: by the LMS user id, else the login, else e-mail."""
    keys = [
        (LmsKeyKind.USER_ID, facts.lms_user_id),
        (LmsKeyKind.LOGIN, facts.lms_login),
        (LmsKeyKind.LOGIN, facts.lms_email),
    ]
    for kind, value in keys:
        if value:
            account = uow.find(LmsAccount, facts.provider, kind, lms_key(kind, value))
            if account is not None:
                return account.user_ref
    return None


def policy_names_course(ledger: Ledger, coc: str, code: str) -> bool:
    """Does a policy pack of the CoC (any version) name ``code`` in a training clause, or
    as one of its fee-paying courses (by prefix)?"""
    for loaded in ledger.packs.versions(coc):
        pack = loaded.pack
        if any(isinstance(c, TrainingClause) and code in c.courses for c in pack.clauses):
            return True
        if pack.fees is not None and code.startswith(pack.fees.course_prefix):
            return True
    return False


def course_of(uow: UnitOfWork, facts: CompletionFacts) -> str | None:
    """The course code: a link of the LMS course id, else the LMS's code if a pack names it."""
    if facts.lms_course_id:
        linked = uow.find(LmsCourse, facts.provider, facts.lms_course_id.strip())
        if linked is not None:
            return linked.course_code
    code = (facts.course_code or "").strip()
    if code and policy_names_course(uow.ledger, uow.meta.coc, code):
        return code
    return None


def settle(uow: UnitOfWork, facts: CompletionFacts, completed: EventMeta) -> Settlement:
    """Record the completion on its user (with ``completed``'s clocks), or say why not."""
    user_ref = linked_user(uow, facts)
    course = course_of(uow, facts)
    if user_ref is None:
        return Settlement(
            None,
            course,
            HoldReason.UNKNOWN_USER,
            f"no user of {uow.meta.coc} is linked to {facts.provider} user id "
            f"{facts.lms_user_id!r} or its login; link it with link-lms-account",
        )
    if course is None:
        return Settlement(
            user_ref,
            None,
            HoldReason.UNKNOWN_COURSE,
            f"course code {facts.course_code or ''!r} (LMS course id "
            f"{facts.lms_course_id or ''!r}) is named by no policy pack of {uow.meta.coc}; "
            "link the course with link-lms-course",
        )
    user = uow.find(EndUser, user_ref)
    if user is None:
        return Settlement(
            None,
            course,
            HoldReason.UNKNOWN_USER,
            f"the account is linked to {user_ref!r}, who is not registered",
        )
    try:
        if uow.process() is Process.CHICAGO:
            chicago_step_order(user, "course", course_code=course)
        user.complete_course(
            completed,
            course_code=course,
            course_title=facts.course_title,
            provider=PROVIDER_NAMES[facts.provider],
            certificate_id=facts.certificate_id,
            score=facts.score,
            source_record_id=f"{facts.provider}:{facts.source_id}",
        )
    except RuleViolation as err:
        return Settlement(user_ref, course, HoldReason.REFUSED, err.message)
    return Settlement(user_ref, course)


def completed_meta(meta: EventMeta, completed_at: datetime) -> EventMeta:
    """The command's metadata with the completion time as the effective time."""
    return EventMeta(**(dict(meta) | {"effective_at": completed_at}))


def retry_held(
    uow: UnitOfWork, wanted: Callable[[LmsInbox.CompletionHeld], bool] | None = None
) -> tuple[int, int]:
    """Try the completions held in the CoC's inbox again (those ``wanted``, or all); return
    how many were recorded now and how many are still held."""
    inbox = uow.find(LmsInbox)
    if inbox is None:
        return 0, 0
    released = still_held = 0
    for held in inbox.held().values():
        if wanted is not None and not wanted(held.fact):
            still_held += 1
            continue
        record = uow.get(LmsCompletion, held.fact.provider, held.fact.source_id)
        received = record.received
        settled = settle(uow, received, completed_meta(uow.meta, received.effective_at))
        if settled.reason is None:
            assert settled.user_ref is not None
            assert settled.course_code is not None
            record.match(settled.user_ref, settled.course_code, uow.meta)
            inbox.release(record, settled.user_ref, settled.course_code, uow.meta)
            released += 1
        else:
            if (settled.reason, settled.detail) != (held.fact.reason, held.fact.detail):
                inbox.hold(record, settled.reason, settled.detail, uow.meta)
            still_held += 1
    return released, still_held
