"""Read endpoint: a user's compliance, with reasons, at a time and under a policy version."""

from __future__ import annotations

import asyncio
from datetime import datetime

from aiohttp import web

from api.keys import COMPLIANCE, LEDGER
from api.responses import json_response
from ledger.errors import InvalidInput


def _as_of(request: web.Request) -> datetime:
    raw = request.query.get("as_of")
    if raw is None:
        return request.app[LEDGER].clock.now()
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"as_of {raw!r} is not an ISO 8601 time", field="as_of") from None
    if moment.tzinfo is None:
        raise InvalidInput("as_of needs a time zone (e.g. 2026-07-01T00:00:00Z)", field="as_of")
    return moment


async def user_compliance(request: web.Request) -> web.StreamResponse:
    """``?as_of=`` (default now), ``?version=`` (what-if), ``?role=`` (repeatable)."""
    coc, ref = request.match_info["coc"], request.match_info["ref"]
    roles = request.query.getall("role", []) or None
    evaluation = await asyncio.to_thread(
        request.app[COMPLIANCE].evaluate_user,
        coc,
        ref,
        _as_of(request),
        version=request.query.get("version"),
        roles=roles,
    )
    return json_response(evaluation.as_dict())


def compliance_routes() -> list[web.RouteDef]:
    return [web.get("/v1/cocs/{coc}/users/{ref}/compliance", user_compliance, name="compliance")]
