"""Learning-platform routes: the Litmos "achievement earned" webhook, and the completions of a
CoC held unmatched.

The webhook answers 201 for a completion it has not seen (recorded on the user, held
unmatched, or kept as ignored when it is no course completion) and 200 for a repeated
delivery, which writes nothing: the achievement id is the delivery's idempotency key (an
``Idempotency-Key`` header is not needed and not read). Learner names in the payload are
not read at all.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Annotated, Any

import structlog
from aiohttp import web
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from api.auth import principal_of
from api.keys import LEDGER, REQUEST_ID
from api.models import UnmatchedPage
from api.openapi import Operation, describe
from api.pagination import PageQuery, cut_page, decode_cursor
from api.params import CocPath, parse_query
from api.problems import validation_problem
from api.responses import model_response
from commands.base import Caller
from commands.lms import Ingested, LmsCompletionIn, ingest, unmatched
from ledger.domain.base import Source
from ledger.domain.lms import LmsProvider
from ledger.errors import NotFound

LMS_PATH = "/v1/cocs/{coc}/lms"
_COC = re.compile(r"^[A-Z]{2}-[0-9]{3}$")
COMPLETED_TYPE, COMPLETED_RESULT = "course completed", "completed"
TAG = "learning platforms"

log = structlog.get_logger("api")


def _id_text(value: object) -> object:
    """Litmos sends some ids as numbers, some as strings: take both as text."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


SourceId = Annotated[
    str,
    BeforeValidator(_id_text),
    Field(min_length=1, max_length=200),
    WithJsonSchema(
        {"anyOf": [{"type": "string", "minLength": 1, "maxLength": 200}, {"type": "integer"}]}
    ),
]


_ISO_TIME = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,9})?)?"
    r"([Zz]|[+-][0-9]{2}:?[0-9]{2})?$"
)


def _iso_text(value: object) -> object:
    """Only ISO 8601 text (pydantic alone would also take a number of seconds)."""
    if isinstance(value, str) and re.match(_ISO_TIME, value):
        return value
    raise ValueError("must be an ISO 8601 date and time, e.g. 2026-02-27T01:12:35.990")


LitmosTime = Annotated[
    datetime,
    BeforeValidator(_iso_text),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _ISO_TIME,
            "description": "ISO 8601; a time without an offset is taken as UTC",
        }
    ),
]


class LitmosAchievement(BaseModel):
    """The ``data`` of a Litmos ``achievement.earned`` webhook (other fields are ignored,
    the learner's first and last name among them). Dates are ISO 8601 in UTC; a date
    without an offset is taken as UTC, as Litmos sends them."""

    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=True)

    user_id: SourceId = Field(alias="userId")
    user_name: str | None = Field(default=None, alias="userName", max_length=254)
    course_id: SourceId | None = Field(default=None, alias="courseId")
    code: str | None = Field(default=None, max_length=64)
    title: str | None = Field(default=None, max_length=500)
    achievement_date: LitmosTime = Field(alias="achievementDate")
    compliant_till: LitmosTime | None = Field(default=None, alias="compliantTilldate")
    result: str | None = Field(default=None, max_length=50)
    type: str | None = Field(default=None, max_length=255)
    achievement_id: SourceId = Field(alias="achievementId")
    certificate_id: SourceId | None = Field(default=None, alias="certificateId")

    @field_validator("user_name", "code", "title", "result", "type", mode="after")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("achievement_date", "compliant_till", mode="after")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @property
    def is_course_completion(self) -> bool:
        kind, result = (self.type or "").casefold(), (self.result or "").casefold()
        return kind in ("", COMPLETED_TYPE) and result in ("", COMPLETED_RESULT)


class LitmosWebhook(BaseModel):
    """A Litmos webhook: ``{"id", "created", "type": "achievement.earned", "object", "data"}``.
    The ``data`` object alone is accepted too."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: SourceId | None = None
    type: str | None = Field(default=None, max_length=100)
    data: LitmosAchievement

    @model_validator(mode="before")
    @classmethod
    def _bare_data(cls, value: Any) -> Any:
        if isinstance(value, dict) and "data" not in value and "achievementId" in value:
            return {"data": value}
        return value


def _coc(request: web.Request) -> str:
    coc = request.match_info["coc"]
    if not _COC.match(coc):
        raise NotFound(f"coc {coc!r} is not registered", kind="coc", ref=coc)
    return coc


def completion_of(coc: str, achievement: LitmosAchievement) -> LmsCompletionIn:
    """The ledger's view of a Litmos achievement."""
    try:
        return LmsCompletionIn(
            coc=coc,
            effective_at=achievement.achievement_date,
            provider=LmsProvider.LITMOS,
            source_id=achievement.achievement_id,
            lms_user_id=achievement.user_id,
            lms_login=achievement.user_name,
            lms_course_id=achievement.course_id,
            course_code=achievement.code,
            course_title=achievement.title,
            certificate_id=achievement.certificate_id,
            valid_until=achievement.compliant_till,
            result=achievement.result,
            is_course_completion=achievement.is_course_completion,
        )
    except ValidationError as err:
        raise validation_problem(err, "a Litmos achievement") from err


@describe(
    Operation(
        "A Litmos achievement.earned webhook delivery",
        Ingested,
        statuses=(201, 200),
        path=CocPath,
        body=LitmosWebhook,
        tag=TAG,
        description="201 for a completion not seen before (recorded on the user, held "
        "unmatched, or kept as ignored when it is no course completion), 200 for a repeated "
        "delivery, which writes nothing (the achievement id is the idempotency key). The "
        "`data` object alone is accepted too.",
    )
)
async def litmos_achievement(request: web.Request) -> web.StreamResponse:
    """``POST /v1/cocs/{coc}/lms/litmos/achievements``: one ``achievement.earned`` delivery."""
    actor = principal_of(request).subject
    coc = _coc(request)
    try:
        hook = LitmosWebhook.model_validate_json(await request.read() or b"{}")
    except ValidationError as err:
        raise validation_problem(err, "a Litmos achievement.earned webhook") from err
    completion = completion_of(coc, hook.data)
    caller = Caller(actor=actor, source=Source.LMS, request_id=request[REQUEST_ID])
    result = await asyncio.to_thread(ingest, request.app[LEDGER], completion, caller)
    if result.conflicting:
        log.warning(
            "lms duplicate differs from the first delivery",
            coc=coc,
            source_record_id=result.source_record_id,
        )
    return model_response(result, status=200 if result.duplicate else 201)


@describe(
    Operation(
        "The completions held unmatched, oldest first",
        UnmatchedPage,
        path=CocPath,
        query=PageQuery,
        tag=TAG,
        description="Each with why it is held (unknown user, unknown course, refused by a "
        "rule); link an LMS account or rematch to record them.",
    )
)
async def lms_unmatched(request: web.Request) -> web.StreamResponse:
    query = parse_query(request, PageQuery)
    coc = _coc(request)
    after = decode_cursor(query.cursor, (int,))
    found = await asyncio.to_thread(
        unmatched, request.app[LEDGER], coc, int(after[0]) if after else 0, query.limit + 1
    )
    page, following = cut_page(found, query.limit, "cursor")
    return model_response(UnmatchedPage(coc=coc, items=page, next=following))


def lms_routes() -> list[web.RouteDef]:
    return [
        web.post(f"{LMS_PATH}/litmos/achievements", litmos_achievement, name="lms_webhook"),
        web.get(f"{LMS_PATH}/unmatched", lms_unmatched, name="lms_unmatched"),
    ]
