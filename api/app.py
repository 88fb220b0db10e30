"""The composition root of the HTTP service: ``create_app(settings)``."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable

import structlog
from aiohttp import web

from api.auth import authenticator_context, authorise
from api.command_routes import command_routes
from api.compliance_routes import compliance_routes
from api.consistency import read_your_writes, setup_consistency
from api.feed_routes import setup_feed
from api.health import health_routes
from api.history_routes import history_routes
from api.integrity_routes import integrity_routes
from api.keys import (
    COMMITTER,
    COMPLIANCE,
    EXPORTS,
    INTEGRITY,
    LEDGER,
    READ_MODELS,
    SETTINGS,
    TIME_TRAVEL,
)
from api.lms_routes import lms_routes
from api.middleware import ACCESS_LOG, AccessLog, request_context
from api.observability import (
    METRICS,
    Metrics,
    count_saved_events,
    observability_routes,
)
from api.openapi import openapi_routes
from api.readmodel_routes import readmodel_routes
from commands.group_commit import GroupCommitter
from ledger.application import Ledger
from ledger.integrity import runner
from ledger.integrity.service import Integrity
from ledger.settings import Settings
from projections.compliance.service import ComplianceService
from projections.readmodels import generations
from projections.readmodels.db import ReadModelDb
from projections.readmodels.queries import ReadModels
from projections.readmodels.runner import CurrentGenerationRunner
from projections.readmodels.timetravel import TimeTravel


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


async def _committer(app: web.Application) -> AsyncIterator[None]:
    """A cleanup context for the thread that runs the commands of requests in groups."""
    committer = GroupCommitter(app[LEDGER])
    committer.start()
    app[COMMITTER] = committer
    try:
        yield
    finally:
        await asyncio.to_thread(committer.stop)


def _read_models(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context for the read models: their tables, and (unless a separate
    ``scripts/project`` process does it) a thread that follows the log into them."""

    async def read_models_context(app: web.Application) -> AsyncIterator[None]:
        ledger = app[LEDGER]
        db = await asyncio.to_thread(ReadModelDb, ledger, postgres_reads=True)
        number = await asyncio.to_thread(generations.ensure_current, db, ledger.clock.now())
        # a generation an older version made (and may still follow, in scripts/project)
        # gets the tables this version reads: the agency counts and the triggers keeping them
        # (also where only the triggers are missing: a bulk load an older version switched)
        await asyncio.to_thread(db.add_missing_tables, number)
        await asyncio.to_thread(db.add_missing_counting, number)
        app[READ_MODELS] = ReadModels(ledger, db, app[COMPLIANCE])
        app[TIME_TRAVEL] = TimeTravel(ledger)
        stop, wake = threading.Event(), threading.Event()
        thread = None
        unlisten = ledger.add_save_listener(lambda _: wake.set())  # follow a write at once
        if settings.readmodels_in_process:
            runner = CurrentGenerationRunner(ledger, db, ledger.clock)
            thread = threading.Thread(
                target=runner.run, args=(stop,), kwargs={"wake": wake}, name="readmodels"
            )
            thread.start()
        try:
            yield
        finally:
            unlisten()
            stop.set()
            wake.set()
            if thread is not None:
                await asyncio.to_thread(thread.join)
            db.close()

    return read_models_context


def _integrity(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context for the tamper-evident history: its tables, and (unless
    ``scripts/seal`` does it) threads that seal the log, sign checkpoints when due and run
    the scheduled self-check."""

    async def integrity_context(app: web.Application) -> AsyncIterator[None]:
        integrity = await asyncio.to_thread(Integrity, app[LEDGER], settings)
        app[INTEGRITY] = integrity
        app[EXPORTS] = asyncio.Semaphore(1)
        stop, caught_up = threading.Event(), threading.Event()
        threads = []
        if settings.integrity_in_process:
            follow = (integrity, stop, caught_up)
            threads.append(threading.Thread(target=runner.follow, args=follow, name="sealer"))
            if settings.selfcheck_interval_seconds > 0:
                threads.append(
                    threading.Thread(target=runner.check_on_schedule, args=follow, name="selfcheck")
                )
        for thread in threads:
            thread.start()
        try:
            yield
        finally:
            stop.set()
            for thread in threads:
                await asyncio.to_thread(thread.join)

    return integrity_context


def create_app(settings: Settings, ledger: Ledger | None = None) -> web.Application:
    """The aiohttp application. A given ``ledger`` stays the caller's to close; without one,
    the application builds its own on start-up and closes it on shutdown."""
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[request_context, authorise, read_your_writes],
    )
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    # the request lines' loggers are kept where structlog keeps loggers (the service)
    app[ACCESS_LOG] = AccessLog(cached=structlog.get_config()["cache_logger_on_first_use"])
    if ledger is None:
        app.cleanup_ctx.append(_own_ledger(settings))
    else:
        app[LEDGER] = ledger
        app[COMPLIANCE] = ComplianceService(ledger)
    app.cleanup_ctx.append(_committer)
    app.cleanup_ctx.append(authenticator_context)
    app.cleanup_ctx.append(_read_models(settings))
    app.cleanup_ctx.append(_integrity(settings))
    app.cleanup_ctx.append(count_saved_events)
    setup_consistency(app)
    app.add_routes(
        health_routes()
        + command_routes()
        # the read models first: the answers asked most often match after fewer patterns
        + readmodel_routes()
        + history_routes()
        + compliance_routes()
        + integrity_routes()
        + lms_routes()
        + observability_routes()
        + openapi_routes()
    )
    setup_feed(app)
    return app
