"""Ingesting learning-platform completions: recorded once under the source's own id, matched
to a user through a linked LMS account and to a course code the CoC's policy packs name, or
held in the CoC's inbox (never dropped) until a link or a retry matches them.

Matching is in :mod:`commands.lms_matching`. Duplicates: a completion's record has an id
derived from (provider, source id), so a second delivery finds it (or, racing the first,
collides with it in the store, is retried, and then finds it) and writes nothing:
:func:`ingest` answers it as a duplicate.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from commands.base import Caller, Command
from commands.lms_matching import settle
from commands.runtime import UnitOfWork, execute, payload_digest, require_not_future
from ledger.application import Ledger
from ledger.domain.lms import (
    HeldCompletion,
    HoldReason,
    LmsCompletion,
    LmsInbox,
    LmsProvider,
    Outcome,
    source_record_id,
)
from ledger.domain.vocabulary import Text
from ledger.eligibility import NoPolicyAdopted
from ledger.errors import Conflict, DuplicateEntity, NotFound
from ledger.ids import entity_id


class LmsCompletionIn(Command):
    """One completion as a learning platform delivered it (built by the webhook and the
    import; ``effective_at`` is the completion time)."""

    name = "record-lms-completion"

    provider: LmsProvider
    source_id: Text = Field(description="the platform's own id of this completion")
    lms_user_id: Text
    lms_login: Text | None = Field(default=None, description="username or e-mail in the LMS")
    lms_email: Text | None = None
    lms_course_id: Text | None = None
    course_code: Text | None = None
    course_title: Text | None = None
    certificate_id: Text | None = None
    score: float | None = Field(default=None, ge=0, le=100)
    valid_until: AwareDatetime | None = None
    result: Text | None = None
    is_course_completion: bool = Field(
        default=True, description="false for other achievements (kept, marked ignored)"
    )

    @model_validator(mode="after")
    def _completion_time_given(self) -> LmsCompletionIn:
        if self.effective_at is None:
            raise ValueError("effective_at (the completion time) is required")
        return self


class Ingested(BaseModel):
    """What became of one delivered completion."""

    model_config = ConfigDict(frozen=True)

    source_record_id: str
    record_id: UUID
    outcome: Outcome
    duplicate: bool = Field(description="delivered before: nothing was written this time")
    conflicting: bool = Field(
        default=False, description="a duplicate whose content differs from the first delivery"
    )
    user_ref: str | None = None
    course_code: str | None = None
    reason: HoldReason | None = None
    detail: str | None = None
    position: int | None = Field(
        default=None,
        description="log position of the write; for a duplicate, of the record's latest event "
        "(None in a dry run)",
    )


class AlreadyRecorded(Conflict):
    """The source's completion is recorded already (a duplicate delivery)."""

    code = "already_recorded"

    def __init__(self, record: LmsCompletion, conflicting: bool) -> None:
        super().__init__(f"{record.source_record_id} is already recorded")
        self.record = record
        self.conflicting = conflicting


# --- receiving ---------------------------------------------------------------------------------


def record_lms_completion(cmd: LmsCompletionIn, uow: UnitOfWork) -> LmsCompletion:
    """The handler: a new record (recorded on the user, held, or ignored), or AlreadyRecorded."""
    digest = payload_digest(cmd)
    existing = uow.find(LmsCompletion, cmd.provider, cmd.source_id)
    if existing is not None:
        raise AlreadyRecorded(existing, existing.received.payload_sha256 != digest)
    fields: dict[str, Any] = {
        name: getattr(cmd, name)
        for name in (
            "provider",
            "source_id",
            "lms_user_id",
            "lms_login",
            "lms_email",
            "lms_course_id",
            "course_code",
            "course_title",
            "certificate_id",
            "score",
            "valid_until",
            "result",
        )
    }
    fields["payload_sha256"] = digest
    if not cmd.is_course_completion:
        record = LmsCompletion.receive(
            uow.meta, **fields, outcome=Outcome.IGNORED, detail="not a course completion"
        )
        return _create_once(uow, record, cmd, digest)
    settled = settle(uow, cmd, uow.meta)
    inbox = None if settled.reason is None else _inbox(uow)
    record = LmsCompletion.receive(
        uow.meta,
        **fields,
        outcome=Outcome.RECORDED if settled.reason is None else Outcome.UNMATCHED,
        user_ref=settled.user_ref if settled.reason is None else None,
        matched_course=settled.course_code if settled.reason is None else None,
        reason=settled.reason,
        detail=settled.detail or None,
    )
    _create_once(uow, record, cmd, digest)
    if inbox is not None and settled.reason is not None:
        inbox.hold(record, settled.reason, settled.detail, uow.meta)
    return record


def _create_once(
    uow: UnitOfWork, record: LmsCompletion, cmd: LmsCompletionIn, digest: str
) -> LmsCompletion:
    """Add the new record, unless a concurrent delivery saved it since this one looked."""
    try:
        return uow.create(record, cmd.provider, cmd.source_id)
    except DuplicateEntity:
        existing = uow.get(LmsCompletion, cmd.provider, cmd.source_id)
        raise AlreadyRecorded(existing, existing.received.payload_sha256 != digest) from None


def _inbox(uow: UnitOfWork) -> LmsInbox:
    """The CoC's inbox, opened with the first completion it holds."""
    inbox = uow.find(LmsInbox)
    if inbox is not None:
        return inbox
    try:
        return uow.create(LmsInbox.open(uow.meta))
    except DuplicateEntity:  # a concurrent writer opened it since this one looked
        return uow.get(LmsInbox)


def _ingested(
    record: LmsCompletion, *, duplicate: bool, conflicting: bool = False, position: int | None
) -> Ingested:
    received, matched = record.received, record.matched
    held = record.outcome is Outcome.UNMATCHED
    return Ingested(
        source_record_id=record.source_record_id,
        record_id=record.id,
        outcome=record.outcome,
        duplicate=duplicate,
        conflicting=conflicting,
        user_ref=matched[0] if matched else None,
        course_code=matched[1] if matched else None,
        reason=received.reason if held else None,
        detail=received.detail if held or record.outcome is Outcome.IGNORED else None,
        position=position,
    )


def ingest(ledger: Ledger, completion: LmsCompletionIn, caller: Caller) -> Ingested:
    """Record one delivered completion once; a repeated delivery writes nothing."""
    saved: list[LmsCompletion] = []

    def handler(cmd: LmsCompletionIn, uow: UnitOfWork) -> LmsCompletion:
        saved.append(record_lms_completion(cmd, uow))
        return saved[-1]

    try:
        receipt = execute(ledger, completion, caller, handler)
    except AlreadyRecorded as dup:
        latest = max(ledger.positions.of_entity(dup.record.id).values())
        return _ingested(dup.record, duplicate=True, conflicting=dup.conflicting, position=latest)
    return _ingested(saved[-1], duplicate=False, position=receipt.position)


class DryRun:
    """What :func:`ingest` would do for a series of completions, each seeing what the ones
    before it would have written (a user's earlier course, a repeated row); nothing is
    saved."""

    def __init__(self, ledger: Ledger, caller: Caller) -> None:
        self.ledger = ledger
        self.caller = caller
        self._uow: UnitOfWork | None = None

    def __call__(self, completion: LmsCompletionIn) -> Ingested:
        now = self.ledger.clock.now()
        assert completion.effective_at is not None
        require_not_future(self.ledger, now, completion.effective_at, "effective_at")
        meta = self.caller.meta(completion.coc, completion.effective_at, now)
        if self._uow is None:
            self._uow = UnitOfWork(self.ledger, meta, NoPolicyAdopted())
            self._uow.process()
        self._uow.meta = meta
        try:
            record = record_lms_completion(completion, self._uow)
        except AlreadyRecorded as dup:
            return _ingested(dup.record, duplicate=True, conflicting=dup.conflicting, position=None)
        return _ingested(record, duplicate=False, position=None)


def preview(ledger: Ledger, completion: LmsCompletionIn, caller: Caller) -> Ingested:
    """What :func:`ingest` would do with one completion, without writing anything."""
    return DryRun(ledger, caller)(completion)


# --- reading the inbox -------------------------------------------------------------------------


def unmatched(ledger: Ledger, coc: str, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
    """The completions held in the CoC's inbox, oldest first, after the ``cursor`` ``after``."""
    if ledger.tenant_process(coc) is None:
        raise NotFound(f"coc {coc!r} is not registered", kind="coc", ref=coc)
    with ledger.exclusive:  # SQLite: no read puts an old copy into the cache while a write runs
        inbox = ledger.load(LmsInbox, entity_id(LmsInbox.kind, coc))
    if inbox is None:
        return []
    found = [h for h in inbox.held().values() if h.since > after][:limit]
    return [_listed(held) for held in found]


def _listed(held: HeldCompletion) -> dict[str, Any]:
    fact = held.fact
    return {
        "cursor": held.since,
        "record_id": fact.record_id,
        "source_record_id": source_record_id(fact.provider, fact.source_id),
        "provider": fact.provider,
        "lms_user_id": fact.lms_user_id,
        "lms_login": fact.lms_login,
        "lms_email": fact.lms_email,
        "lms_course_id": fact.lms_course_id,
        "course_code": fact.course_code,
        "course_title": fact.course_title,
        "completed_at": fact.completed_at,
        "held_at": fact.timestamp,
        "reason": fact.reason,
        "detail": fact.detail,
    }
