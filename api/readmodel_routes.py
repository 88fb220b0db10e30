"""Read endpoints over the read models (users, agencies, regions, calendar, audit trail,
lag) and time travel for an agency or a whole CoC on both clocks."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from api.compliance_routes import clocks
from api.keys import LEDGER, READ_MODELS, TIME_TRAVEL
from api.responses import json_response
from ledger.errors import InvalidInput


def _int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise InvalidInput(f"{name} must be a whole number from {low} to {high}", field=name)
    return int(raw)


async def users(request: web.Request) -> web.StreamResponse:
    """``?agency=``, cursor pagination with ``?after=<ref>&limit=``."""
    coc = request.match_info["coc"]
    limit = _int(request, "limit", 100, 1, 1000)
    found = await asyncio.to_thread(
        request.app[READ_MODELS].users,
        coc,
        request.app[LEDGER].clock.now(),
        agency=request.query.get("agency"),
        after=request.query.get("after", ""),
        limit=limit,
    )
    page: dict[str, Any] = {
        "items": found,
        "next": found[-1]["ref"] if len(found) == limit else None,
    }
    return json_response(page)


async def user(request: web.Request) -> web.StreamResponse:
    coc, ref = request.match_info["coc"], request.match_info["ref"]
    now = request.app[LEDGER].clock.now()
    return json_response(await asyncio.to_thread(request.app[READ_MODELS].user, coc, ref, now))


async def agency(request: web.Request) -> web.StreamResponse:
    """The read model; with ``?as_of=`` or ``?known_at=``, the agency then (time travel)."""
    coc, ref = request.match_info["coc"], request.match_info["ref"]
    if "as_of" in request.query or "known_at" in request.query:
        as_of, known_at = clocks(request)
        summary = await asyncio.to_thread(
            request.app[TIME_TRAVEL].agency, coc, ref, as_of, known_at
        )
        return json_response({"as_of": as_of, "known_at": known_at, **summary})
    now = request.app[LEDGER].clock.now()
    return json_response(await asyncio.to_thread(request.app[READ_MODELS].agency, coc, ref, now))


async def region(request: web.Request) -> web.StreamResponse:
    coc, name = request.match_info["coc"], request.match_info["region"]
    found = await asyncio.to_thread(request.app[READ_MODELS].region, coc, name)
    return json_response({"region": name, "case_conferencing": found})


async def calendar(request: web.Request) -> web.StreamResponse:
    """``?days=30`` (up to 366): what expires or falls due, and breached deadlines."""
    coc = request.match_info["coc"]
    days = _int(request, "days", 30, 1, 366)
    now = request.app[LEDGER].clock.now()
    found = await asyncio.to_thread(request.app[READ_MODELS].calendar, coc, now, days)
    return json_response({"from": now.date(), "days": days, **found})


async def audit_trail(request: web.Request) -> web.StreamResponse:
    """Every event of one entity; ``?known_at=`` keeps what was recorded by then."""
    coc, kind, ref = (request.match_info[k] for k in ("coc", "kind", "ref"))
    _, known_at = clocks(request)
    found = await asyncio.to_thread(request.app[READ_MODELS].audit_trail, coc, kind, ref, known_at)
    return json_response({"entity": {"coc": coc, "kind": kind, "ref": ref}, "events": found})


async def coc_statuses(request: web.Request) -> web.StreamResponse:
    """Every user's status on ``?as_of=`` as known at ``?known_at=`` (time travel)."""
    coc = request.match_info["coc"]
    as_of, known_at = clocks(request)
    models, travel = request.app[READ_MODELS], request.app[TIME_TRAVEL]

    def answer() -> list[dict[str, Any]]:
        refs = models.user_refs(coc)
        return travel.coc(coc, refs, as_of, known_at)

    found = await asyncio.to_thread(answer)
    return json_response({"coc": coc, "as_of": as_of, "known_at": known_at, "users": found})


async def lag(request: web.Request) -> web.StreamResponse:
    return json_response(await asyncio.to_thread(request.app[READ_MODELS].lag))


def readmodel_routes() -> list[web.RouteDef]:
    base = "/v1/cocs/{coc}"
    return [
        web.get(f"{base}/users", users, name="users"),
        web.get(f"{base}/users/{{ref}}", user, name="user"),
        web.get(f"{base}/agencies/{{ref}}", agency, name="agency"),
        web.get(f"{base}/regions/{{region}}/case-conferencing", region, name="region"),
        web.get(f"{base}/calendar", calendar, name="calendar"),
        web.get(f"{base}/audit/{{kind}}/{{ref}}", audit_trail, name="audit_trail"),
        web.get(f"{base}/statuses", coc_statuses, name="statuses"),
        web.get("/v1/readmodels", lag, name="readmodels"),
    ]
