"""Read endpoint: a user's compliance, with reasons, at a time and under a policy version."""

from __future__ import annotations

import asyncio
from datetime import datetime

from aiohttp import web

from api.keys import COMPLIANCE, LEDGER
from api.responses import json_response
from ledger.errors import InvalidInput
from projections.compliance.service import ComplianceService
from projections.readmodels.timetravel import known_at as known_at_loader


def moment_param(request: web.Request, name: str) -> datetime | None:
    """An ISO 8601 time with a zone from the query string (None when absent)."""
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{name} {raw!r} is not an ISO 8601 time", field=name) from None
    if moment.tzinfo is None:
        raise InvalidInput(f"{name} needs a time zone (e.g. 2026-07-01T00:00:00Z)", field=name)
    return moment


def clocks(request: web.Request) -> tuple[datetime, datetime | None]:
    """(``as_of`` effective time, ``known_at`` recorded time): as_of defaults to known_at,
    or now."""
    known_at = moment_param(request, "known_at")
    as_of = moment_param(request, "as_of") or known_at or request.app[LEDGER].clock.now()
    return as_of, known_at


async def user_compliance(request: web.Request) -> web.StreamResponse:
    """``?as_of=`` (default now), ``?known_at=`` (only facts recorded by then), ``?version=``
    (what-if), ``?role=`` (repeatable)."""
    coc, ref = request.match_info["coc"], request.match_info["ref"]
    roles = request.query.getall("role", []) or None
    as_of, known_at = clocks(request)
    service = request.app[COMPLIANCE]
    if known_at is not None:
        service = ComplianceService(service.ledger, load=known_at_loader(service.ledger, known_at))
    evaluation = await asyncio.to_thread(
        service.evaluate_user,
        coc,
        ref,
        as_of,
        version=request.query.get("version"),
        roles=roles,
    )
    return json_response(evaluation.as_dict())


def compliance_routes() -> list[web.RouteDef]:
    return [web.get("/v1/cocs/{coc}/users/{ref}/compliance", user_compliance, name="compliance")]
