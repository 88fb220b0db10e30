"""``GET /healthz``: 200 with the log head when the store answers, 503 otherwise."""

from __future__ import annotations

import asyncio

from aiohttp import web

from api.keys import LEDGER
from api.models import Health
from api.openapi import Operation, describe
from api.responses import model_response
from ledger.application import StoreUnavailable

HEALTH_TIMEOUT_SECONDS = 5.0


@describe(Operation("Is the event store reachable", response=Health, public=True))
async def healthz(request: web.Request) -> web.StreamResponse:
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_SECONDS):
            head = await asyncio.to_thread(request.app[LEDGER].head)
    except Exception as err:  # whatever the reason, a store that does not answer is down
        raise StoreUnavailable(f"the store did not answer: {type(err).__name__}") from err
    return model_response(Health(status="ok", head=head))


def health_routes() -> list[web.RouteDef]:
    return [web.get("/healthz", healthz, name="healthz")]
