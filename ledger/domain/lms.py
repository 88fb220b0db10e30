"""Learning-platform ingestion: each completion a source delivers, recorded once under the
source's own id; LMS accounts and courses linked to users and course codes; and an inbox of
the completions held because they did not match (yet)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from ledger.domain.base import EventMeta, LedgerAggregate
from ledger.errors import RuleViolation
from ledger.ids import entity_id


class LmsProvider(StrEnum):
    LITMOS = "litmos"  # Missouri's LMS: "achievement earned" webhooks
    TALENT_LMS = "talentlms"  # Chicago's LMS: course-completion exports


class LmsKeyKind(StrEnum):
    """How an LMS names a learner: its own opaque id, or a login (a username or e-mail)."""

    USER_ID = "user-id"
    LOGIN = "login"


def lms_key(kind: LmsKeyKind, value: str) -> str:
    """The form a learner key is compared in: ids as given, logins without case."""
    value = value.strip()
    return value.casefold() if kind is LmsKeyKind.LOGIN else value


class Outcome(StrEnum):
    RECORDED = "recorded"  # matched: a course completion on the user
    UNMATCHED = "unmatched"  # held in the inbox until it matches
    IGNORED = "ignored"  # kept, but not a course completion (e.g. a learning path)


class HoldReason(StrEnum):
    UNKNOWN_USER = "unknown-user"  # no LMS account linked to a user of the CoC
    UNKNOWN_COURSE = "unknown-course"  # no course code a policy pack of the CoC names
    REFUSED = "refused"  # the user is known, but a hard rule refused the completion


class LmsCompletion(LedgerAggregate):
    """One completion as a learning platform delivered it, under the platform's own id.

    Its id is derived from (provider, source id), so a second delivery cannot be written: the
    create collides in the store, even between concurrent writers.
    """

    kind = "lms-completion"

    class Received(LedgerAggregate.Created):
        provider: LmsProvider
        source_id: str
        lms_user_id: str
        lms_login: str | None = None
        lms_email: str | None = None
        lms_course_id: str | None = None
        course_code: str | None = None  # as the LMS gave it
        course_title: str | None = None
        certificate_id: str | None = None
        score: float | None = None
        valid_until: datetime | None = None
        result: str | None = None
        payload_sha256: str
        outcome: Outcome
        user_ref: str | None = None
        matched_course: str | None = None  # the course code recorded on the user
        reason: HoldReason | None = None
        detail: str | None = None

    class Matched(LedgerAggregate.Event):
        """A held completion was recorded on a user after all."""

        user_ref: str
        course_code: str

    @classmethod
    def receive(cls, meta: EventMeta, **fields: object) -> LmsCompletion:
        provider, source_id = fields["provider"], fields["source_id"]
        return cls._create(
            cls.Received,
            id=entity_id(cls.kind, meta.coc, str(provider), str(source_id)),
            **fields,
            **meta.fields(),
        )

    @property
    def received(self) -> LmsCompletion.Received:
        received: LmsCompletion.Received = self._facts[0]  # type: ignore[assignment]
        return received

    @property
    def source_record_id(self) -> str:
        """The id the user's course completion carries: provider and the source's own id."""
        return source_record_id(self.received.provider, self.received.source_id)

    @property
    def outcome(self) -> Outcome:
        return Outcome.RECORDED if self.matched is not None else self.received.outcome

    @property
    def matched(self) -> tuple[str, str] | None:
        """(user ref, course code) the completion was recorded under, if it was."""
        received = self.received
        if received.user_ref is not None and received.matched_course is not None:
            return received.user_ref, received.matched_course
        later = self.last(LmsCompletion.Matched)
        return None if later is None else (later.user_ref, later.course_code)

    def match(self, user_ref: str, course_code: str, meta: EventMeta) -> None:
        if self.matched is not None:
            raise RuleViolation(
                "lms/completion-matched-once", f"{self.source_record_id} is already recorded"
            )
        self.trigger_event(
            self.Matched, user_ref=user_ref, course_code=course_code, **meta.fields()
        )


def source_record_id(provider: str, source_id: str) -> str:
    return f"{provider}:{source_id}"


class LmsAccount(LedgerAggregate):
    """An LMS's name for a learner (its user id, or a login) linked to a user of the CoC."""

    kind = "lms-account"

    class Linked(LedgerAggregate.Created):
        provider: LmsProvider
        key_kind: LmsKeyKind
        key: str
        user_ref: str

    class Relinked(LedgerAggregate.Event):
        """The account belongs to another user than the one linked before."""

        user_ref: str
        previous_user_ref: str

    @classmethod
    def link(
        cls, provider: LmsProvider, key_kind: LmsKeyKind, key: str, user_ref: str, meta: EventMeta
    ) -> LmsAccount:
        normalised = lms_key(key_kind, key)
        return cls._create(
            cls.Linked,
            id=account_id(meta.coc, provider, key_kind, normalised),
            provider=provider,
            key_kind=key_kind,
            key=normalised,
            user_ref=user_ref,
            **meta.fields(),
        )

    @property
    def user_ref(self) -> str:
        user_ref = ""
        for fact in self.facts(LmsAccount.Linked, LmsAccount.Relinked):
            if isinstance(fact, LmsAccount.Linked | LmsAccount.Relinked):
                user_ref = fact.user_ref
        return user_ref

    def relink(self, user_ref: str, meta: EventMeta) -> None:
        previous = self.user_ref
        if previous == user_ref:
            raise RuleViolation("lms/link-changes", f"the account is already linked to {user_ref}")
        self.trigger_event(
            self.Relinked, user_ref=user_ref, previous_user_ref=previous, **meta.fields()
        )


def account_id(coc: str, provider: LmsProvider, key_kind: LmsKeyKind, key: str) -> UUID:
    return entity_id(LmsAccount.kind, coc, provider, key_kind, lms_key(key_kind, key))


class LmsCourse(LedgerAggregate):
    """An LMS's course (by its own id) linked to a course code of the CoC's policy packs."""

    kind = "lms-course"

    class Linked(LedgerAggregate.Created):
        provider: LmsProvider
        lms_course_id: str
        course_code: str

    class Relinked(LedgerAggregate.Event):
        course_code: str
        previous_course_code: str

    @classmethod
    def link(
        cls, provider: LmsProvider, lms_course_id: str, course_code: str, meta: EventMeta
    ) -> LmsCourse:
        return cls._create(
            cls.Linked,
            id=entity_id(cls.kind, meta.coc, provider, lms_course_id.strip()),
            provider=provider,
            lms_course_id=lms_course_id.strip(),
            course_code=course_code,
            **meta.fields(),
        )

    @property
    def course_code(self) -> str:
        code = ""
        for fact in self.facts(LmsCourse.Linked, LmsCourse.Relinked):
            if isinstance(fact, LmsCourse.Linked | LmsCourse.Relinked):
                code = fact.course_code
        return code

    def relink(self, course_code: str, meta: EventMeta) -> None:
        previous = self.course_code
        if previous == course_code:
            raise RuleViolation(
                "lms/link-changes", f"the course is already linked to {course_code}"
            )
        self.trigger_event(
            self.Relinked, course_code=course_code, previous_course_code=previous, **meta.fields()
        )


@dataclass(frozen=True)
class HeldCompletion:
    since: int  # the inbox version that first held it (a stable order and cursor)
    fact: LmsInbox.CompletionHeld


class LmsInbox(LedgerAggregate):
    """The CoC's completions held because they did not match, until they do (one per CoC)."""

    kind = "lms-inbox"

    class Opened(LedgerAggregate.Created):
        pass

    class CompletionHeld(LedgerAggregate.Event):
        """A completion is held (again, when a retry found another reason)."""

        record_id: UUID
        provider: LmsProvider
        source_id: str
        reason: HoldReason
        detail: str
        # what a link or the list of unmatched completions needs, copied from the record
        lms_user_id: str
        lms_login: str | None = None
        lms_email: str | None = None
        lms_course_id: str | None = None
        course_code: str | None = None
        course_title: str | None = None
        completed_at: datetime

    class CompletionReleased(LedgerAggregate.Event):
        record_id: UUID
        user_ref: str
        course_code: str

    class RematchRun(LedgerAggregate.Event):
        """Someone asked to try every held completion again."""

        released: int
        still_held: int

    @classmethod
    def open(cls, meta: EventMeta) -> LmsInbox:
        return cls._create(cls.Opened, id=entity_id(cls.kind, meta.coc), **meta.fields())

    def held(self) -> dict[UUID, HeldCompletion]:
        """Completions held now, by record id, in order of first holding, each with its
        latest reason."""
        held: dict[UUID, HeldCompletion] = {}
        for fact in self.facts(LmsInbox.CompletionHeld, LmsInbox.CompletionReleased):
            if isinstance(fact, LmsInbox.CompletionHeld):
                earlier = held.get(fact.record_id)
                since = fact.originator_version if earlier is None else earlier.since
                held[fact.record_id] = HeldCompletion(since, fact)
            elif isinstance(fact, LmsInbox.CompletionReleased):
                held.pop(fact.record_id, None)
        return held

    def hold(self, record: LmsCompletion, reason: HoldReason, detail: str, meta: EventMeta) -> None:
        """Hold a completion, or record the new reason a retry found for holding it."""
        received = record.received
        self.trigger_event(
            self.CompletionHeld,
            record_id=record.id,
            provider=received.provider,
            source_id=received.source_id,
            reason=reason,
            detail=detail,
            lms_user_id=received.lms_user_id,
            lms_login=received.lms_login,
            lms_email=received.lms_email,
            lms_course_id=received.lms_course_id,
            course_code=received.course_code,
            course_title=received.course_title,
            completed_at=received.effective_at,
            **meta.fields(),
        )

    def release(
        self, record: LmsCompletion, user_ref: str, course_code: str, meta: EventMeta
    ) -> None:
        self.trigger_event(
            self.CompletionReleased,
            record_id=record.id,
            user_ref=user_ref,
            course_code=course_code,
            **meta.fields(),
        )

    def rematch_run(self, released: int, still_held: int, meta: EventMeta) -> None:
        self.trigger_event(
            self.RematchRun, released=released, still_held=still_held, **meta.fields()
        )
