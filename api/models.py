"""Pydantic models of the API's answers: each route builds its body through one of them, and
the OpenAPI document takes their JSON schemas."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.pagination import Page
from ledger.domain.base import Source
from ledger.domain.lms import HoldReason, LmsProvider
from projections.compliance.results import Overall, State

UserOverall = Literal["compliant", "pending", "non-compliant", "blocked", "no-policy"]


class Answer(BaseModel):
    """Base of every answer model (immutable)."""

    model_config = ConfigDict(frozen=True, json_schema_serialization_defaults_required=True)


# --- errors ------------------------------------------------------------------------------


class FieldError(Answer):
    loc: list[str | int] = Field(description="where in the input: field names and indexes")
    msg: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem; the extensions beside ``code`` and ``request_id`` depend on the
    code (``errors`` for validation, ``rule`` for a rule violation, ...)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    type: str = Field(description="a URI naming the kind of problem (its code)")
    title: str
    status: int = Field(ge=400, le=599)
    detail: str = Field(description="what went wrong, for people")
    code: str = Field(description="stable machine code, e.g. not_found, rule_violation")
    request_id: str = Field(description="the request id, also in the X-Request-ID header")
    errors: list[FieldError] | None = Field(
        default=None, description="validation_failed / invalid_input: each field's error"
    )
    rule: str | None = Field(default=None, description="rule_violation: the clause id")


# --- service -----------------------------------------------------------------------------


class Health(Answer):
    status: Literal["ok"]
    head: int = Field(description="the event log's last position")


class CommandInfo(Answer):
    model_config = ConfigDict(
        frozen=True, populate_by_name=True, json_schema_serialization_defaults_required=True
    )

    name: str
    path: str
    json_schema: dict[str, Any] = Field(alias="schema", description="the body's JSON schema")


class CommandCatalogue(Answer):
    commands: list[CommandInfo]


class Lag(Answer):
    generation: int | None = Field(description="the read models' current generation")
    position: int = Field(description="the log position the read models reached")
    head: int = Field(description="the event log's last position")
    lag: int = Field(description="head minus position")


# --- histories ---------------------------------------------------------------------------


class HistoryEvent(Answer):
    position: int | None = Field(description="position in the event log")
    event_id: UUID
    type: str = Field(description="the event class, e.g. Agency.RegionJoined")
    version: int = Field(description="the entity's version after this event")
    effective_at: datetime = Field(description="when it happened")
    recorded_at: datetime = Field(description="when the ledger learned it")
    actor: str
    source: Source
    request_id: str
    payload: dict[str, Any]


class EntityHistory(Page[HistoryEvent]):
    """Every event of one entity in order of version."""

    entity_id: UUID
    kind: str


class CorrectionLink(Answer):
    version: int
    position: int


class CorrectedBy(CorrectionLink):
    type: str


class AuditEntry(HistoryEvent):
    position: int = Field(description="position in the event log")
    corrects: CorrectionLink | None = Field(description="the event this one corrects")
    corrected_by: list[CorrectedBy] = Field(description="later events correcting this one")


class EntityRef(Answer):
    coc: str
    kind: str
    ref: str


class AuditTrail(Page[AuditEntry]):
    entity: EntityRef
    known_at: datetime | None


# --- compliance --------------------------------------------------------------------------


class Evidence(Answer):
    event_id: UUID
    effective_at: datetime
    what: str


class ClauseStatus(Answer):
    clause: str
    state: State
    reason: str
    evidence: list[Evidence]
    valid_until: datetime | None
    expired_since: datetime | None
    blocked_by: list[str]
    deadline: date | None


class PolicyRef(Answer):
    coc: str
    version: str
    sha256: str
    what_if: bool


class Access(Answer):
    role: str
    hmis_role: str
    permissions: list[str]


class Finding(Answer):
    kind: str
    detail: str
    event_id: UUID | None


class Evaluation(Answer):
    """A user's compliance at ``as_of`` under one policy version, with the reasons."""

    subject: str
    as_of: datetime
    policy: PolicyRef
    roles: list[str]
    overall: Overall
    clauses: list[ClauseStatus]
    access: Access | None
    next_change: datetime | None = Field(description="when the answer changes by itself")
    findings: list[Finding]


# --- read models -------------------------------------------------------------------------


class UserStatus(Answer):
    coc: str
    ref: str
    agency_ref: str | None
    overall: UserOverall
    hmis_role: str | None
    evaluated: str = Field(
        description="when the read model evaluated the user, or 'at query time' when the "
        "projected answer had expired and was evaluated again"
    )
    evaluation: Evaluation | None = Field(description="null while no policy is in force")


class UserPage(Page[UserStatus]):
    pass


class Program(Answer):
    ref: str
    type: str
    name: str


class Signature(Answer):
    party: str
    effective_at: datetime
    event_id: UUID


class AgreementSummary(Answer):
    ref: str
    kind: str
    region: str | None
    partner_agency_ref: str | None
    revision: str
    parties: list[str]
    signed: list[Signature]
    next_party: str | None
    voided: bool
    fully_executed: bool
    executed_at: datetime | None
    lapsed: bool


class AgencySummary(Answer):
    ref: str
    name: str
    hmis_participating: bool
    regions: list[str]
    ces_roles: list[str]
    programs: list[Program]
    program_setup_confirmed: bool
    agreements: list[AgreementSummary]
    lapses: list[str]
    users: dict[str, int] | None = Field(
        default=None, description="users by status (the read model; absent in time travel)"
    )
    as_of: datetime | None = Field(default=None, description="time travel: effective time")
    known_at: datetime | None = Field(default=None, description="time travel: recorded time")


class AgencyPage(Page[AgencySummary]):
    pass


class CaseConferencingAgency(Answer):
    agency_ref: str
    agreement_ref: str
    revision: str
    executed_at: datetime


class CaseConferencing(Page[CaseConferencingAgency]):
    """Agencies with a fully executed CE MOU for the region."""

    region: str


class CalendarEntry(Answer):
    subject_kind: str
    subject_ref: str
    agency_ref: str | None
    clause: str
    what: Literal["expires", "due"]
    on_date: date
    state: str
    breached: bool = Field(description="a deadline that has already passed")


class Calendar(Page[CalendarEntry]):
    """Breached deadlines, then what expires or falls due, in order of date."""

    model_config = ConfigDict(
        frozen=True, populate_by_name=True, json_schema_serialization_defaults_required=True
    )

    from_date: date = Field(alias="from", description="today")
    days: int


class StatusAt(Answer):
    ref: str
    agency_ref: str | None
    overall: UserOverall
    hmis_role: str | None
    unmet: list[str] = Field(description="clauses not satisfied")


class Statuses(Page[StatusAt]):
    """Every user's status on ``as_of`` as known at ``known_at``."""

    coc: str
    as_of: datetime
    known_at: datetime | None


# --- learning platforms ------------------------------------------------------------------


class HeldCompletion(Answer):
    """A completion delivered by a learning platform and held: not yet on a user."""

    record_id: UUID
    source_record_id: str = Field(description="the source's own id, e.g. litmos:4711")
    provider: LmsProvider
    lms_user_id: str
    lms_login: str | None
    lms_email: str | None
    lms_course_id: str | None
    course_code: str | None
    course_title: str | None
    completed_at: datetime
    held_at: datetime
    reason: HoldReason
    detail: str


class UnmatchedPage(Page[HeldCompletion]):
    coc: str


# --- service -----------------------------------------------------------------------------


class Ready(Answer):
    status: Literal["ready"]
    checks: dict[str, dict[str, Any]] = Field(
        description="each check (store, readmodels) with `ok` and what it found"
    )


# --- event feed --------------------------------------------------------------------------


class FeedEntity(Answer):
    kind: str
    ref: str
    id: UUID
    version: int


class FeedEvent(Answer):
    position: int = Field(description="position in the event log; the SSE event's id")
    entity: FeedEntity
    type: str
    event_id: UUID
    effective_at: datetime
    recorded_at: datetime
    actor: str
    source: Source
    request_id: str
    corrects_version: int | None = Field(description="the version of the event corrected")
    payload: dict[str, Any]


class EventFeedPage(Answer):
    """The CoC's events after a log position, in log order; every event of the CoC up to
    ``complete_to`` is in this page or before it."""

    coc: str
    after: int
    items: list[FeedEvent]
    next: int = Field(description="the `after` of the following page (never null: a log goes on)")
    has_more: bool = Field(description="more events are there already")
    complete_to: int
