"""The composition root of the HTTP service: ``create_app(settings)``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from api.command_routes import command_routes
from api.compliance_routes import compliance_routes
from api.health import health_routes
from api.history_routes import history_routes
from api.keys import COMPLIANCE, LEDGER, SETTINGS
from api.middleware import request_context
from ledger.application import Ledger
from ledger.settings import Settings
from projections.compliance.service import ComplianceService


def _own_ledger(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context that builds the Ledger on start-up and closes it on shutdown."""

    async def ledger_context(app: web.Application) -> AsyncIterator[None]:
        ledger = await asyncio.to_thread(Ledger, settings)
        app[LEDGER] = ledger
        app[COMPLIANCE] = ComplianceService(ledger)
        try:
            yield
        finally:
            await asyncio.to_thread(ledger.close)

    return ledger_context


def create_app(settings: Settings, ledger: Ledger | None = None) -> web.Application:
    """The aiohttp application. A given ``ledger`` stays the caller's to close; without one,
    the application builds its own on start-up and closes it on shutdown."""
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[request_context])
    app[SETTINGS] = settings
    if ledger is None:
        app.cleanup_ctx.append(_own_ledger(settings))
    else:
        app[LEDGER] = ledger
        app[COMPLIANCE] = ComplianceService(ledger)
    app.add_routes(health_routes() + command_routes() + history_routes() + compliance_routes())
    return app
