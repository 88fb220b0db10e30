"""The Server-Sent Events stream of a CoC's events: ids are log positions, resume with
Last-Event-ID, keep-alive comments, and it ends on disconnect and on server shutdown."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from api.feed_routes import OPEN_STREAMS
from ledger.application import Ledger
from ledger.settings import Settings
from tests.api.feed_support import (
    Receipts,
    event_positions,
    feed,
    followed_writes,
    write,
)
from tests.api.support import Client, CocAdmins, Post, poster, problem

STREAM = "/v1/cocs/MO-606/events/stream"


@pytest.fixture
async def receipts(client: Client, post: Post) -> Receipts:
    return await followed_writes(client, post)


async def block(response: ClientResponse) -> dict[str, Any]:
    """The next block of the stream (up to a blank line) as its fields; data as JSON."""
    async with asyncio.timeout(5):
        raw = (await response.content.readuntil(b"\n\n")).decode()
    fields: dict[str, Any] = {}
    for line in raw.strip("\n").split("\n"):
        name, _, value = line.partition(":")
        fields[name or "comment"] = value.strip()
    if "data" in fields:
        fields["data"] = orjson.loads(fields["data"])
    return fields


async def events(response: ClientResponse, count: int) -> list[dict[str, Any]]:
    """The next ``count`` events, past the reconnection hint and comments."""
    found: list[dict[str, Any]] = []
    while len(found) < count:
        fields = await block(response)
        if "id" in fields:
            found.append(fields)
    return found


async def test_the_stream_sends_the_cocs_events_then_new_ones_as_they_are_written(
    client: Client, post: Post, receipts: Receipts
) -> None:
    positions = event_positions(receipts["MO-606"])
    items = (await feed(client, "MO-606"))["items"]

    async with client.get(STREAM) as response:
        assert response.status == 200
        assert response.content_type == "text/event-stream"
        assert await block(response) == {"retry": "2000"}
        sent = await events(response, len(positions))
        await write(
            post, "register-end-user", {"coc": "CA-600", "user_ref": "U9", "agency_ref": "AG2"}
        )
        new = await write(
            post, "register-end-user", {"coc": "MO-606", "user_ref": "U3", "agency_ref": "AG1"}
        )
        latest = await events(response, len(new["events"]))

    assert [int(e["id"]) for e in sent] == positions
    assert [e["data"] for e in sent] == items
    assert [int(e["id"]) for e in latest] == event_positions([new])
    assert {e["data"]["entity"]["ref"] for e in latest} == {"U3", "AG1"}


async def test_a_stream_resumes_after_the_last_event_id_which_wins_over_after(
    client: Client, receipts: Receipts
) -> None:
    positions = event_positions(receipts["MO-606"])

    async with client.get(f"{STREAM}?after=0", headers={"Last-Event-ID": str(positions[1])}) as r:
        resumed = await events(r, len(positions) - 2)

    assert [int(e["id"]) for e in resumed] == positions[2:]


async def test_a_stream_starts_after_the_after_parameter(
    client: Client, receipts: Receipts
) -> None:
    positions = event_positions(receipts["MO-606"])

    async with client.get(f"{STREAM}?after={positions[-2]}") as response:
        [first] = await events(response, 1)

    assert int(first["id"]) == positions[-1]


async def test_a_malformed_last_event_id_is_a_422_problem_before_any_event(
    client: Client, receipts: Receipts
) -> None:
    response = await client.get(STREAM, headers={"Last-Event-ID": "abc"})

    body = await problem(response, 422, "invalid_input")
    assert body["field"] == "Last-Event-ID"


@pytest.fixture
async def quick_client(
    settings: Settings, ledger: Ledger, admins: CocAdmins
) -> AsyncIterator[Client]:
    """A client of an app whose streams send a keep-alive after 0.2 s of quiet."""
    quick = settings.model_copy(update={"stream_keepalive_seconds": 0.2})
    app = create_app(quick, ledger)
    async with TestClient(TestServer(app), middlewares=(admins.middleware,)) as test_client:
        yield test_client


async def test_a_quiet_stream_sends_keep_alive_comments(
    quick_client: Client, admins: CocAdmins
) -> None:
    await write(
        poster(quick_client, admins),
        "register-coc",
        {"coc": "MO-606", "coc_name": "Demo", "process": "mo-bos"},
    )

    async with quick_client.get(f"{STREAM}?after=1000000") as response:
        await block(response)  # retry
        started = time.monotonic()
        comments = [await block(response), await block(response)]

    assert comments == [{"comment": "keep-alive"}] * 2
    assert time.monotonic() - started < 2


async def open_streams(client: Client) -> int:
    return client.server.app[OPEN_STREAMS].count


async def test_a_stream_ends_when_its_client_disconnects(
    client: Client, receipts: Receipts
) -> None:
    response = await client.get(STREAM)
    await block(response)
    assert await open_streams(client) == 1

    response.close()
    for _ in range(60):
        if await open_streams(client) == 0:
            break
        await asyncio.sleep(0.05)

    assert await open_streams(client) == 0


async def test_server_shutdown_ends_open_streams_cleanly_and_promptly(
    client: Client, receipts: Receipts
) -> None:
    response = await client.get(STREAM)
    await events(response, len(event_positions(receipts["MO-606"])))
    started = time.monotonic()

    await client.server.close()
    async with asyncio.timeout(5):
        rest = await response.content.read()

    assert time.monotonic() - started < 5
    assert rest == b""  # the stream ended with its last chunk, nothing cut in half
    assert response.content.at_eof()
