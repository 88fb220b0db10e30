"""The event feed of one CoC: ``GET /v1/cocs/{coc}/events`` (pages of JSON after a log
position) and ``GET /v1/cocs/{coc}/events/stream`` (Server-Sent Events, resumable with
``Last-Event-ID``). Both read the read models' audit trail, so they reach as far as the read
models have (``complete_to``); other CoCs' events are never read, only their positions skipped.
"""

from __future__ import annotations

import asyncio
import time

import structlog
from aiohttp import web
from pydantic import Field

from api.consistency import MAX_POSITION, PROGRESS, ProgressWatch, position_param
from api.keys import LEDGER, READ_MODELS, REQUEST_ID, SETTINGS
from api.middleware import REQUEST_ID_HEADER
from api.models import EventFeedPage, FeedEvent
from api.openapi import Header, Operation, describe
from api.params import CocPath, QueryModel, parse_query
from api.responses import model_response
from ledger.errors import InvalidInput, NotFound
from projections.readmodels.feed import EventFeed, FeedPage, index_current

FEED_PATH = "/v1/cocs/{coc}/events"
DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
STREAM_BATCH = 200
RETRY_MILLISECONDS = 2000  # how long an EventSource waits before it reconnects
DISCONNECT_CHECK_SECONDS = 1.0  # how soon a quiet stream notices its client has gone
LAST_EVENT_ID = "Last-Event-ID"

log = structlog.get_logger("api")


class OpenStreams:
    """How many event streams are open (they end on disconnect and on shutdown)."""

    def __init__(self) -> None:
        self.count = 0


OPEN_STREAMS = web.AppKey("open_event_streams", OpenStreams)


class FeedQuery(QueryModel):
    after: int = Field(
        default=0, ge=0, le=MAX_POSITION, description="the log position to read after"
    )
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="most events")


class StreamQuery(QueryModel):
    after: int = Field(
        default=0,
        ge=0,
        le=MAX_POSITION,
        description=f"the log position to start after (`{LAST_EVENT_ID}` wins when sent)",
    )


async def _feed(request: web.Request) -> tuple[str, EventFeed]:
    """The CoC in the path (404 unless registered) and the feed to read it from."""
    coc = request.match_info["coc"]
    if await asyncio.to_thread(request.app[LEDGER].tenant_process, coc) is None:
        raise NotFound(f"coc {coc!r} is not registered", kind="coc", ref=coc)
    models = request.app[READ_MODELS]
    return coc, EventFeed(models.ledger, models.db)


@describe(
    Operation(
        "The CoC's events after a log position, in log order",
        EventFeedPage,
        path=CocPath,
        query=FeedQuery,
        errors=(404,),
        tag="event feed",
        description="Pages by log position (the positions receipts, `wait_for_position` and "
        "the stream's event ids use): pass `next` as `after` for the following page.",
    )
)
async def events_feed(request: web.Request) -> web.StreamResponse:
    """``?after=<position>&limit=`` (1-1000, default 100): the CoC's events in log order."""
    query = parse_query(request, FeedQuery)
    coc, feed = await _feed(request)
    page = await asyncio.to_thread(feed.page, coc, query.after, query.limit)
    return model_response(
        EventFeedPage(
            coc=coc,
            after=query.after,
            items=page.items,
            next=page.next,
            has_more=page.has_more,
            complete_to=page.complete_to,
        )
    )


def _resume_point(request: web.Request) -> int:
    """Where a stream starts: after ``Last-Event-ID`` (an EventSource reconnecting) when
    given, else after ``?after=``, else from the beginning."""
    header = request.headers.get(LAST_EVENT_ID)
    if header is not None:
        try:
            return position_param(header.strip(), LAST_EVENT_ID)
        except InvalidInput as err:
            raise InvalidInput(
                f"{LAST_EVENT_ID} must be the id of an event of this stream (a log position)",
                field=LAST_EVENT_ID,
            ) from err
    return parse_query(request, StreamQuery).after


def _events(page: FeedPage) -> bytes:
    return b"".join(
        b"id: %d\ndata: %s\n\n"
        % (item["position"], FeedEvent.model_validate(item).model_dump_json().encode())
        for item in page.items
    )


class _Stream:
    """One client's stream: pages of the feed as events, then new events as the read models
    reach them, a comment when quiet; ends when the client goes or the service stops."""

    def __init__(
        self,
        request: web.Request,
        response: web.StreamResponse,
        feed: EventFeed,
        coc: str,
        watch: ProgressWatch,
    ) -> None:
        self.request = request
        self.response = response
        self.feed = feed
        self.coc = coc
        self.watch = watch
        self.keepalive = request.app[SETTINGS].stream_keepalive_seconds
        self.last_write = time.monotonic()

    def gone(self) -> bool:
        transport = self.request.transport
        return transport is None or transport.is_closing() or self.watch.closed

    async def write(self, data: bytes) -> None:
        await self.response.write(data)
        self.last_write = time.monotonic()

    async def run(self, page: FeedPage) -> None:
        while not self.gone():
            if page.items:
                await self.write(_events(page))
            if not page.has_more and not await self._new_events(page.complete_to):
                return
            page = await asyncio.to_thread(self.feed.page, self.coc, page.next, STREAM_BATCH)

    async def _new_events(self, seen: int) -> bool:
        """Wait until the read models pass ``seen`` (True), keeping the connection alive;
        False when the client has gone or the service stops."""
        while not self.gone():
            quiet = time.monotonic() - self.last_write
            if quiet >= self.keepalive:
                await self.write(b": keep-alive\n\n")
                continue
            wait = min(self.keepalive - quiet, DISCONNECT_CHECK_SECONDS)
            try:
                found = await self.watch.wait_until(lambda p: p.position > seen, wait)
            except TimeoutError:
                continue
            if found is not None and found.position > seen:
                return True
        return False


@describe(
    Operation(
        "The CoC's events as Server-Sent Events, from a log position on",
        path=CocPath,
        query=StreamQuery,
        headers=(
            Header(
                LAST_EVENT_ID,
                "resume after this event (an EventSource sends it when it reconnects)",
                {"type": "string", "pattern": "^[0-9]{1,19}$"},
            ),
        ),
        errors=(404,),
        tag="event feed",
        media_type="text/event-stream",
        description="Each event's `id` is its log position and its `data` an item as in the "
        "feed; the stream stays open and sends new events as the read models apply them.",
    )
)
async def events_stream(request: web.Request) -> web.StreamResponse:
    """``text/event-stream`` of the CoC's events; each event's ``id`` is its log position."""
    after = _resume_point(request)
    coc, feed = await _feed(request)
    first = await asyncio.to_thread(feed.page, coc, after, STREAM_BATCH)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
            REQUEST_ID_HEADER: request[REQUEST_ID],
        }
    )
    await response.prepare(request)
    streams = request.app[OPEN_STREAMS]
    streams.count += 1
    try:
        await response.write(b"retry: %d\n\n" % RETRY_MILLISECONDS)
        await _Stream(request, response, feed, coc, request.app[PROGRESS]).run(first)
        await response.write_eof()
    except ConnectionError:
        pass  # the client went away between two writes
    except Exception as err:  # the headers are sent: end the stream, the client resumes
        log.warning("events.stream_ended", error=type(err).__name__)
    finally:
        streams.count -= 1
    return response


async def _index(app: web.Application) -> None:
    """On start-up, after the read models: a generation built before the feed gets its
    index; if that fails (another process is at it), the feed still works, more slowly."""
    try:
        await asyncio.to_thread(index_current, app[READ_MODELS].db)
    except Exception as err:
        log.warning("events.index_not_created", error=type(err).__name__)


def setup_feed(app: web.Application) -> None:
    """The feed's routes, its count of open streams, and its index."""
    app[OPEN_STREAMS] = OpenStreams()
    app.on_startup.append(_index)
    app.add_routes(
        [
            web.get(FEED_PATH, events_feed, name="events_feed"),
            web.get(f"{FEED_PATH}/stream", events_stream, name="events_stream", allow_head=False),
        ]
    )
