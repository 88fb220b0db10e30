"""Read-your-writes: a write answers with its log position, and a read with
``wait_for_position`` waits (bounded, holding no thread) until the read models reach it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from api.keys import READ_MODELS
from ledger.application import Ledger
from ledger.settings import Settings
from projections.readmodels import generations
from projections.readmodels.follower import Follower
from tests.api.feed_support import CA, write
from tests.api.support import Client, CocAdmins, Post, poster, problem
from tests.integration.readmodels_support import drop_user_counting

USER = "/v1/cocs/CA-600/users/U2"


@asynccontextmanager
async def paused_app(
    settings: Settings, ledger: Ledger, admins: CocAdmins, wait: float
) -> AsyncIterator[Client]:
    """A client of an app whose read models move only when a test applies the log, and
    whose reads wait at most ``wait`` seconds for them."""
    manual = settings.model_copy(
        update={"readmodels_in_process": False, "read_wait_max_seconds": wait}
    )
    app = create_app(manual, ledger)
    async with TestClient(TestServer(app), middlewares=(admins.middleware,)) as test_client:
        yield test_client


@pytest.fixture
async def paused(settings: Settings, ledger: Ledger, admins: CocAdmins) -> AsyncIterator[Client]:
    async with paused_app(settings, ledger, admins, 5.0) as test_client:
        yield test_client


def follower(client: Client, ledger: Ledger) -> Follower:
    db = client.server.app[READ_MODELS].db
    number = generations.current(db)
    assert number is not None
    return Follower(ledger, db, number, ledger.clock)


async def user_written(post: Post) -> dict[str, Any]:
    await write(post, "register-coc", CA)
    await write(post, "register-agency", {"coc": "CA-600", "agency_ref": "AG2", "agency_name": "H"})
    return await write(
        post, "register-end-user", {"coc": "CA-600", "user_ref": "U2", "agency_ref": "AG2"}
    )


async def test_a_write_answers_with_the_log_position_it_reached(post: Post, ledger: Ledger) -> None:
    receipt = await user_written(post)

    assert receipt["position"] == ledger.head()
    assert receipt["position"] >= max(e["position"] for e in receipt["events"])


async def test_a_read_waits_until_the_read_models_reach_the_position(
    paused: Client, ledger: Ledger, admins: CocAdmins
) -> None:
    receipt = await user_written(poster(paused, admins))
    read = asyncio.create_task(paused.get(f"{USER}?wait_for_position={receipt['position']}"))
    await asyncio.sleep(0.3)
    assert not read.done()

    await asyncio.to_thread(follower(paused, ledger).catch_up)
    response = await asyncio.wait_for(read, 2)

    assert response.status == 200
    assert (await response.json())["ref"] == "U2"


async def test_a_read_waits_for_what_the_write_touched_to_be_derived_and_evaluated(
    paused: Client, ledger: Ledger, admins: CocAdmins
) -> None:
    receipt = await user_written(poster(paused, admins))
    models = follower(paused, ledger)
    read = asyncio.create_task(paused.get(f"{USER}?wait_for_position={receipt['position']}"))

    await asyncio.to_thread(models.apply_next)  # applied: the agency and user are queued
    await asyncio.sleep(0.3)
    assert models.position >= receipt["position"]
    assert not read.done()
    await asyncio.to_thread(models.projector.derive_pending)  # the agency derived again
    await asyncio.sleep(0.3)
    assert not read.done()

    while await asyncio.to_thread(models.projector.evaluate_pending):
        pass
    response = await asyncio.wait_for(read, 2)
    assert response.status == 200


async def test_a_read_that_would_wait_too_long_is_a_503_problem_with_retry_after(
    settings: Settings, ledger: Ledger, admins: CocAdmins
) -> None:
    async with paused_app(settings, ledger, admins, 0.5) as paused:
        receipt = await user_written(poster(paused, admins))
        started = time.monotonic()

        response = await paused.get(f"{USER}?wait_for_position={receipt['position']}")

        waited = time.monotonic() - started
        body = await problem(response, 503, "read_models_behind")
    assert response.headers["Retry-After"] == "1"
    assert body["wait_for_position"] == receipt["position"]
    assert body["position"] < receipt["position"]
    assert 0.5 <= waited < 2.5


async def test_a_position_beyond_the_log_head_is_a_422_problem_at_once(
    paused: Client, ledger: Ledger, admins: CocAdmins
) -> None:
    await user_written(poster(paused, admins))
    started = time.monotonic()

    response = await paused.get(f"{USER}?wait_for_position={ledger.head() + 1}")

    body = await problem(response, 422, "invalid_input")
    assert body["field"] == "wait_for_position"
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("value", ["-1", "x", "1.5", "", "99999999999999999999"])
async def test_a_malformed_position_is_a_422_problem(client: Client, value: str) -> None:
    response = await client.get(f"/v1/readmodels?wait_for_position={value}")

    body = await problem(response, 422, "invalid_input")
    assert body["field"] == "wait_for_position"


async def test_waiting_reads_hold_no_thread(
    paused: Client, ledger: Ledger, admins: CocAdmins
) -> None:
    receipt = await user_written(poster(paused, admins))
    reads = [
        asyncio.create_task(paused.get(f"{USER}?wait_for_position={receipt['position']}"))
        for _ in range(40)  # far more than the default thread pool's workers
    ]
    await asyncio.sleep(0.3)

    started = time.monotonic()
    health = await paused.get("/healthz")  # needs a pool thread to read the store
    assert health.status == 200
    assert time.monotonic() - started < 1.0
    assert not any(read.done() for read in reads)

    await asyncio.to_thread(follower(paused, ledger).catch_up)
    answers = await asyncio.wait_for(asyncio.gather(*reads), 3)
    assert [a.status for a in answers] == [200] * 40


async def test_a_service_newer_than_the_generation_adds_the_agency_counts_it_reads(
    settings: Settings, ledger: Ledger, admins: CocAdmins, paused: Client
) -> None:
    await user_written(poster(paused, admins))
    follower(paused, ledger).catch_up()
    db = paused.server.app[READ_MODELS].db
    number = generations.current(db)
    assert number is not None
    drop_user_counting(db, number)  # as a version before the counts left it
    async with paused_app(settings, ledger, admins, 5.0) as newer:  # no follower of its own
        response = await newer.get("/v1/cocs/CA-600/agencies/AG2")
        assert response.status == 200, await response.text()
        assert (await response.json())["users"] == {"no-policy": 1}  # CA-600 adopts no pack


async def test_a_service_makes_the_counting_triggers_a_switched_bulk_load_went_without(
    settings: Settings, ledger: Ledger, admins: CocAdmins, paused: Client
) -> None:
    """A generation may go live without the triggers that count its users (a bulk load
    interrupted, then resumed and switched by an older version): the service counts its
    users and makes them when it starts, so the counts follow later writes."""
    await user_written(poster(paused, admins))
    follower(paused, ledger).catch_up()
    db = paused.server.app[READ_MODELS].db
    number = generations.current(db)
    assert number is not None
    with db.transaction() as cursor:
        db.drop_user_counting(cursor, number)
        db.execute(cursor, f"DELETE FROM {db.table(db.prefix(number) + 'user_counts')}")
    assert not db.has_user_counting(number)
    async with paused_app(settings, ledger, admins, 5.0) as newer:
        assert db.has_user_counting(number)
        response = await newer.get("/v1/cocs/CA-600/agencies/AG2")
        assert response.status == 200, await response.text()
        assert (await response.json())["users"] == {"no-policy": 1}
