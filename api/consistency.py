"""Read-your-writes: a read with ``?wait_for_position=N`` is answered once the read models
have reached log position N (every event up to it applied, every user it touched
evaluated), waiting without holding a thread, at most ``read_wait_max_seconds``.

One poller per service looks at the read models' progress every ``progress_poll_seconds``,
and only while a read or an event stream waits; all of them wait on its answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from api.keys import LEDGER, READ_MODELS, SETTINGS
from api.problems import ApiProblem
from ledger.errors import InvalidInput
from projections.readmodels.feed import Progress, progress

WAIT_PARAMETER = "wait_for_position"
MAX_POSITION = 2**63 - 1
RETRY_AFTER_SECONDS = "1"

log = structlog.get_logger("api")


def position_param(raw: str | None, name: str, default: int = 0) -> int:
    """A log position from the query string or a header: a whole number from 0."""
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_POSITION:
        raise InvalidInput(
            f"{name} must be a log position: a whole number from 0 to {MAX_POSITION}", field=name
        )
    return int(raw)


class ProgressWatch:
    """Tells waiters when the read models' progress meets their condition."""

    def __init__(self, read: Callable[[], Progress], interval: float) -> None:
        self._read = read
        self._interval = interval
        self._latest: Progress | None = None
        self._changed = asyncio.Condition()
        self._waiters = 0
        self._poller: asyncio.Task[None] | None = None
        self.closed = False

    @property
    def latest(self) -> Progress | None:
        """The last progress seen (None before the first look)."""
        return self._latest

    async def wait_until(self, ok: Callable[[Progress], bool], timeout: float) -> Progress | None:
        """The progress once ``ok`` holds for it; the latest progress, maybe not ``ok``, when
        the watch closes (the service shuts down); TimeoutError after ``timeout`` seconds."""
        if self._latest is not None and ok(self._latest):
            return self._latest
        self._waiters += 1
        if self._poller is None:
            self._poller = asyncio.create_task(self._poll(), name="readmodels-progress")
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(self._met(ok))
        finally:
            self._waiters -= 1
        return self._latest

    def _met(self, ok: Callable[[Progress], bool]) -> Callable[[], bool]:
        return lambda: self.closed or (self._latest is not None and ok(self._latest))

    async def _poll(self) -> None:
        try:
            while self._waiters and not self.closed:
                try:
                    found = await asyncio.to_thread(self._read)
                except Exception as err:  # the store is down: waiters time out, 503
                    log.warning("readmodels.progress_unavailable", error=type(err).__name__)
                else:
                    async with self._changed:
                        self._latest = found
                        self._changed.notify_all()
                await asyncio.sleep(self._interval)
        finally:
            self._poller = None

    async def close(self) -> None:
        """Wake every waiter and stop looking (service shutdown)."""
        self.closed = True
        async with self._changed:
            self._changed.notify_all()
        poller = self._poller
        if poller is not None:
            poller.cancel()
            await asyncio.gather(poller, return_exceptions=True)


PROGRESS = web.AppKey("readmodels_progress", ProgressWatch)


def setup_consistency(app: web.Application) -> None:
    """The application's progress watch, closed when the service shuts down."""
    settings = app[SETTINGS]
    app[PROGRESS] = ProgressWatch(
        lambda: progress(app[READ_MODELS].db), settings.progress_poll_seconds
    )

    async def close(app: web.Application) -> None:
        await app[PROGRESS].close()

    app.on_shutdown.append(close)


def _reached(position: int) -> Callable[[Progress], bool]:
    return lambda p: p.position >= position and p.settled


async def wait_for_position(request: web.Request, position: int) -> None:
    """Return once the read models have reached ``position``; 422 for a position the log has
    not reached (no write returned it), 503 with Retry-After when the wait is too long."""
    watch = request.app[PROGRESS]
    latest = watch.latest
    if latest is not None and _reached(position)(latest):
        return
    head = await asyncio.to_thread(request.app[LEDGER].head)
    if position > head:
        raise InvalidInput(
            f"{WAIT_PARAMETER} {position} is beyond the log's head ({head}): no write returned it",
            field=WAIT_PARAMETER,
        )
    limit = request.app[SETTINGS].read_wait_max_seconds
    try:
        found = await watch.wait_until(_reached(position), limit)
    except TimeoutError:
        found = watch.latest
    if found is not None and _reached(position)(found):
        return
    reached = found.position if found is not None else 0
    why = "the service is shutting down" if watch.closed else f"after {limit:g} s"
    raise ApiProblem(
        503,
        "read_models_behind",
        f"the read models have not reached log position {position} ({why}; they are at "
        f"{reached}); retry later",
        headers={"Retry-After": RETRY_AFTER_SECONDS},
        wait_for_position=position,
        position=reached,
    )


@web.middleware
async def read_your_writes(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Any matched GET with ``?wait_for_position=N`` waits for the read models first."""
    raw = request.query.get(WAIT_PARAMETER)
    if (
        raw is not None
        and request.method in ("GET", "HEAD")
        and request.match_info.http_exception is None
    ):
        await wait_for_position(request, position_param(raw, WAIT_PARAMETER))
    return await handler(request)
