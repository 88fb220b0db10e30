"""The event feed: one CoC's events after a log position, paged, with both clocks."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from ledger.application import Ledger
from ledger.settings import Settings
from projections.readmodels import generations
from projections.readmodels.db import ReadModelDb
from tests.api.feed_support import Receipts, event_positions, feed, followed_writes
from tests.api.support import ACTOR, Client, Post, problem


@pytest.fixture
async def receipts(client: Client, post: Post) -> Receipts:
    return await followed_writes(client, post)


async def test_the_feed_lists_exactly_the_cocs_events_in_log_order(
    client: Client, receipts: Receipts
) -> None:
    for coc, written in receipts.items():
        page = await feed(client, coc)

        assert [e["position"] for e in page["items"]] == event_positions(written)
        assert not page["has_more"]


async def test_a_feed_event_carries_entity_type_clocks_actor_source_request_and_payload(
    client: Client, receipts: Receipts
) -> None:
    registered = receipts["MO-606"][1]  # register-agency AG1
    position = registered["events"][0]["position"]

    item = next(e for e in (await feed(client, "MO-606"))["items"] if e["position"] == position)
    history = await (await client.get("/v1/cocs/MO-606/entities/agency/AG1/history")).json()

    assert item["entity"] == {
        "kind": "agency",
        "ref": "AG1",
        "id": registered["entity_id"],
        "version": 1,
    }
    assert item["type"] == "Agency.Registered"
    assert item["actor"] == ACTOR
    assert item["source"] == "api"
    first = history["items"][0]
    for field in ("position", "event_id", "effective_at", "recorded_at", "request_id", "payload"):
        assert item[field] == first[field], field
    assert item["payload"]["name"] == "Cedar"


async def test_pages_follow_the_next_cursor_without_gaps_or_repeats(
    client: Client, receipts: Receipts
) -> None:
    seen: list[int] = []
    after = 0
    for _ in range(10):
        page = await feed(client, "MO-606", f"after={after}&limit=2")
        seen += [e["position"] for e in page["items"]]
        after = page["next"]
        if not page["has_more"]:
            break

    assert seen == event_positions(receipts["MO-606"])
    assert after == page["complete_to"]


async def test_a_full_page_says_there_is_more_and_points_at_its_last_event(
    client: Client, receipts: Receipts
) -> None:
    page = await feed(client, "CA-600", "limit=1")

    assert page["has_more"]
    assert page["next"] == page["items"][0]["position"] == event_positions(receipts["CA-600"])[0]


async def test_the_end_of_the_feed_points_past_other_cocs_events(
    client: Client, receipts: Receipts
) -> None:
    page = await feed(client, "CA-600")
    later = await feed(client, "CA-600", f"after={page['next']}")

    assert page["next"] == page["complete_to"] >= max(event_positions(receipts["MO-606"]))
    assert later["items"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [("after=-1", "after"), ("after=x", "after"), ("limit=0", "limit"), ("limit=1001", "limit")],
)
async def test_bad_paging_parameters_are_a_422_problem(
    client: Client, receipts: Receipts, query: str, field: str
) -> None:
    body = await problem(await client.get(f"/v1/cocs/MO-606/events?{query}"), 422, "invalid_input")

    assert body["field"] == field


async def test_the_feed_of_an_unregistered_coc_is_a_404_problem(
    client: Client, receipts: Receipts
) -> None:
    await problem(await client.get("/v1/cocs/WI-500/events"), 404, "not_found")


def feed_index_exists(db: ReadModelDb, number: int) -> bool:
    name = f"{db.prefix(number)}audit_feed"
    if db.postgres:
        found = db.fetchall(
            "SELECT 1 FROM pg_indexes WHERE schemaname = ? AND indexname = ?", (db.schema, name)
        )
    else:
        found = db.fetchall(
            "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (name,)
        )
    return bool(found)


async def test_a_generation_built_before_the_feed_gets_its_index_on_start_up(
    settings: Settings, ledger: Ledger
) -> None:
    db = ReadModelDb(ledger)
    number = generations.ensure_current(db, ledger.clock.now())
    with db.transaction() as cursor:
        db.execute(cursor, f"DROP INDEX {db.table(db.prefix(number) + 'audit_feed')}")
    assert not feed_index_exists(db, number)

    async with TestClient(TestServer(create_app(settings, ledger))):
        assert feed_index_exists(db, number)
