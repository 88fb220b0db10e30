"""Read endpoints over the read models (users, agencies, regions, calendar, audit trail,
lag) and time travel for an agency or a whole CoC on both clocks. Lists are paged with a
cursor (api/pagination.py)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from aiohttp import web
from pydantic import AfterValidator, Field, StringConstraints

from api.history_routes import COC_REF
from api.keys import LEDGER, READ_MODELS, TIME_TRAVEL
from api.models import (
    AgencyPage,
    AgencySummary,
    AuditTrail,
    Calendar,
    CaseConferencing,
    EntityRef,
    Lag,
    Statuses,
    UserPage,
    UserStatus,
)
from api.openapi import Operation, describe
from api.pagination import PageQuery, cut_page, decode_cursor, next_cursor
from api.params import Clocks, CocPath, Moment, RefPath, parse_query
from api.reads import read_models
from api.responses import model_response, projected_response
from ledger.domain.vocabulary import Ref
from projections.readmodels.events import AGGREGATES, NOT_PROJECTED

TAG = "read models"


class UsersQuery(PageQuery):
    agency: Ref | None = Field(default=None, description="only the users of this agency")


class CalendarQuery(PageQuery):
    days: int = Field(default=30, ge=1, le=366, description="how many days ahead")


class StatusesQuery(Clocks, PageQuery):
    pass


class AuditQuery(PageQuery):
    known_at: Moment | None = Field(
        default=None, description="recorded time: only events recorded by then"
    )


AUDITED_KINDS = tuple(a.kind for a in AGGREGATES if a not in NOT_PROJECTED)


def _audited(kind: str) -> str:
    if kind not in AUDITED_KINDS:
        raise ValueError(f"not a kind of entity the audit trail keeps: {', '.join(AUDITED_KINDS)}")
    return kind


class AuditPath(CocPath):
    kind: Annotated[str, AfterValidator(_audited)] = Field(
        description="the kind of entity", json_schema_extra={"enum": list(AUDITED_KINDS)}
    )
    ref: Annotated[str, StringConstraints(pattern=r"^(-|[A-Za-z0-9][A-Za-z0-9._-]{0,199})$")] = (
        Field(description=f"the entity's ref; `{COC_REF}` (or its code) for the CoC itself")
    )


class RegionPath(CocPath):
    region: Ref = Field(description="the region's ref", examples=["R1"])


@describe(
    Operation(
        "The users of a CoC with their status, in order of ref",
        UserPage,
        path=CocPath,
        query=UsersQuery,
        tag=TAG,
    )
)
async def users(request: web.Request) -> web.StreamResponse:
    query = parse_query(request, UsersQuery)
    coc = request.match_info["coc"]
    after = decode_cursor(query.cursor, (str,))
    found = await read_models(
        request,
        request.app[READ_MODELS].users_json,
        coc,
        request.app[LEDGER].clock.now(),
        agency=query.agency,
        after=str(after[0]) if after else "",
        limit=query.limit + 1,
    )
    page = found[: query.limit]
    following = next_cursor((page[-1][0],) if page else None, len(found) > len(page))
    return projected_response({"items": [answer for _, answer in page], "next": following})


@describe(
    Operation("One user's projected status", UserStatus, path=RefPath, errors=(404,), tag=TAG)
)
async def user(request: web.Request) -> web.StreamResponse:
    coc, ref = request.match_info["coc"], request.match_info["ref"]
    now = request.app[LEDGER].clock.now()
    found = await read_models(request, request.app[READ_MODELS].user_json, coc, ref, now)
    return projected_response(found)


@describe(
    Operation(
        "An agency: agreements, regions, programs, lapses and users by status",
        AgencySummary,
        path=RefPath,
        query=Clocks,
        errors=(404,),
        tag=TAG,
        description="From the read model; with `as_of` or `known_at`, the agency then (time "
        "travel, without the user counts).",
    )
)
async def agency(request: web.Request) -> web.StreamResponse:
    query = parse_query(request, Clocks)
    coc, ref = request.match_info["coc"], request.match_info["ref"]
    if query.as_of is not None or query.known_at is not None:
        as_of, known_at = query.moments(request)
        summary = await asyncio.to_thread(
            request.app[TIME_TRAVEL].agency, coc, ref, as_of, known_at
        )
        summary |= {"as_of": as_of, "known_at": known_at}
        return model_response(AgencySummary.model_validate(summary))
    now = request.app[LEDGER].clock.now()
    summary = await read_models(request, request.app[READ_MODELS].agency, coc, ref, now)
    return projected_response(summary | {"as_of": None, "known_at": None})


@describe(
    Operation(
        "The agencies of a CoC, in order of ref",
        AgencyPage,
        path=CocPath,
        query=PageQuery,
        tag=TAG,
        description="Each agency's agreements, regions, programs and lapses (the user counts "
        "are in the single agency's answer).",
    )
)
async def agencies(request: web.Request) -> web.StreamResponse:
    query = parse_query(request, PageQuery)
    coc = request.match_info["coc"]
    after = decode_cursor(query.cursor, (str,))
    found = await read_models(
        request,
        request.app[READ_MODELS].agencies,
        coc,
        after=str(after[0]) if after else "",
        limit=query.limit + 1,
    )
    page, following = cut_page(found, query.limit, "ref")
    return model_response(AgencyPage(items=page, next=following))


@describe(
    Operation(
        "The agencies that may join case conferencing in a region",
        CaseConferencing,
        path=RegionPath,
        query=PageQuery,
        tag=TAG,
        description="Those with a fully executed CE MOU for the region, in order of ref.",
    )
)
async def region(request: web.Request) -> web.StreamResponse:
    query = parse_query(request, PageQuery)
    coc, name = request.match_info["coc"], request.match_info["region"]
    after = decode_cursor(query.cursor, (str,))
    found = await read_models(
        request,
        request.app[READ_MODELS].region,
        coc,
        name,
        after=str(after[0]) if after else "",
        limit=query.limit + 1,
    )
    page, following = cut_page(found, query.limit, "agency_ref")
    return model_response(CaseConferencing(region=name, items=page, next=following))


CALENDAR_KEY = ("on_date", "subject_kind", "subject_ref", "clause", "what")


@describe(
    Operation(
        "What expires or falls due, and breached deadlines",
        Calendar,
        path=CocPath,
        query=CalendarQuery,
        tag=TAG,
        description="Breached deadlines first, then what expires or falls due in the next "
        "`days` days (1 to 366), in order of date.",
    )
)
async def calendar(request: web.Request) -> web.StreamResponse:
    query = parse_query(request, CalendarQuery)
    coc = request.match_info["coc"]
    after = decode_cursor(query.cursor, (str,) * len(CALENDAR_KEY))
    now = request.app[LEDGER].clock.now()
    found = await read_models(
        request,
        request.app[READ_MODELS].calendar,
        coc,
        now,
        query.days,
        after=tuple(map(str, after)) if after else None,  # type: ignore[arg-type]
        limit=query.limit + 1,
    )
    page, following = cut_page(found, query.limit, *CALENDAR_KEY)
    return projected_response(
        {"from": now.date().isoformat(), "days": query.days, "items": page, "next": following}
    )


@describe(
    Operation(
        "The audit trail of one entity",
        AuditTrail,
        path=AuditPath,
        query=AuditQuery,
        errors=(404,),
        tag=TAG,
        description="Every event in order with both clocks, actor, source, request id, the "
        "event as stored, and corrections linked both ways; `known_at` keeps what was "
        "recorded by then.",
    )
)
async def audit_trail(request: web.Request) -> web.StreamResponse:
    query = parse_query(request, AuditQuery)
    coc, kind, ref = (request.match_info[k] for k in ("coc", "kind", "ref"))
    if kind == "coc" and ref == COC_REF:
        ref = coc  # the audit trail keeps a CoC under its own code
    after = decode_cursor(query.cursor, (int,))
    found = await read_models(
        request,
        request.app[READ_MODELS].audit_trail,
        coc,
        kind,
        ref,
        query.known_at,
        after=int(after[0]) if after else 0,
        limit=query.limit + 1,
    )
    page, following = cut_page(found, query.limit, "version")
    return model_response(
        AuditTrail(
            entity=EntityRef(coc=coc, kind=kind, ref=ref),
            known_at=query.known_at,
            items=page,
            next=following,
        )
    )


@describe(
    Operation(
        "Every user's status at a time (time travel)",
        Statuses,
        path=CocPath,
        query=StatusesQuery,
        errors=(404,),
        tag=TAG,
        description="Each user known at `known_at` and registered by `as_of`, evaluated on "
        "`as_of`; a page may hold fewer than `limit` users while `next` is not null.",
    )
)
async def coc_statuses(request: web.Request) -> web.StreamResponse:
    query = parse_query(request, StatusesQuery)
    coc = request.match_info["coc"]
    as_of, known_at = query.moments(request)
    after = decode_cursor(query.cursor, (str,))
    models, travel = request.app[READ_MODELS], request.app[TIME_TRAVEL]

    def answer() -> tuple[list[dict[str, Any]], list[str]]:
        refs = models.user_refs(coc, after=str(after[0]) if after else "", limit=query.limit + 1)
        return travel.coc(coc, refs[: query.limit], as_of, known_at), refs

    found, refs = await asyncio.to_thread(answer)
    last = (refs[query.limit - 1],) if len(refs) > query.limit else None
    return model_response(
        Statuses(coc=coc, as_of=as_of, known_at=known_at, items=found, next=next_cursor(last, True))
    )


@describe(Operation("How far the read models are behind the log", Lag, tag=TAG))
async def lag(request: web.Request) -> web.StreamResponse:
    return model_response(Lag.model_validate(await asyncio.to_thread(request.app[READ_MODELS].lag)))


def readmodel_routes() -> list[web.RouteDef]:
    base = "/v1/cocs/{coc}"
    return [
        web.get(f"{base}/users", users, name="users"),
        web.get(f"{base}/users/{{ref}}", user, name="user"),
        web.get(f"{base}/agencies", agencies, name="agencies"),
        web.get(f"{base}/agencies/{{ref}}", agency, name="agency"),
        web.get(f"{base}/regions/{{region}}/case-conferencing", region, name="region"),
        web.get(f"{base}/calendar", calendar, name="calendar"),
        web.get(f"{base}/audit/{{kind}}/{{ref}}", audit_trail, name="audit_trail"),
        web.get(f"{base}/statuses", coc_statuses, name="statuses"),
        web.get("/v1/readmodels", lag, name="readmodels"),
    ]
