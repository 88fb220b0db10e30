"""``GET /healthz``: 200 with the log head when the store answers, 503 otherwise."""

from __future__ import annotations

import asyncio

from aiohttp import web

from api.keys import LEDGER
from api.responses import json_response
from ledger.application import StoreUnavailable

HEALTH_TIMEOUT_SECONDS = 5.0


async def healthz(request: web.Request) -> web.StreamResponse:
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_SECONDS):
            head = await asyncio.to_thread(request.app[LEDGER].head)
    except Exception as err:  # whatever the reason, a store that does not answer is down
        raise StoreUnavailable(f"the store did not answer: {type(err).__name__}") from err
    return json_response({"status": "ok", "head": head})


def health_routes() -> list[web.RouteDef]:
    return [web.get("/healthz", healthz, name="healthz")]
