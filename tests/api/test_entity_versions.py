"""ETag on entity histories, If-Match on writes: 409 with the current version on a mismatch."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ledger.application import Ledger
from tests.api.feed_support import write
from tests.api.support import MO, Client, Post, problem

HISTORY = "/v1/cocs/MO-606/entities/agency/AG1/history"
REGION = {"coc": "MO-606", "region": "R1", "region_name": "Region 1"}
JOIN = {"coc": "MO-606", "agency_ref": "AG1", "region": "R1"}
LEAVE = {"coc": "MO-606", "agency_ref": "AG1", "region": "R1"}


@pytest.fixture
async def agency(post: Post) -> dict[str, Any]:
    """MO-606 with region R1 and agency AG1 (version 1); the agency's receipt."""
    await write(post, "register-coc", MO)
    await write(post, "add-region", REGION)
    return await write(
        post, "register-agency", {"coc": "MO-606", "agency_ref": "AG1", "agency_name": "Cedar"}
    )


async def test_an_entity_history_carries_its_version_as_etag(
    client: Client, post: Post, agency: dict[str, Any]
) -> None:
    await write(post, "join-region", JOIN)

    response = await client.get(HISTORY)
    by_id = await client.get(f"/v1/cocs/MO-606/entities/by-id/{agency['entity_id']}/history")

    assert response.headers["ETag"] == '"2"'
    assert by_id.headers["ETag"] == '"2"'
    assert (await response.json())["items"][-1]["version"] == 2


async def test_a_history_the_caller_has_is_not_sent_again(
    client: Client, agency: dict[str, Any]
) -> None:
    same = await client.get(HISTORY, headers={"If-None-Match": '"1"'})
    other = await client.get(HISTORY, headers={"If-None-Match": '"7"'})

    assert same.status == 304
    assert same.headers["ETag"] == '"1"'
    assert await same.read() == b""
    assert other.status == 200


async def test_a_write_on_the_expected_version_answers_the_new_etag(
    client: Client, post: Post, agency: dict[str, Any]
) -> None:
    response = await post("join-region", JOIN, If_Match='"1"')

    assert response.status == 201, await response.text()
    assert response.headers["ETag"] == '"2"'
    assert (await client.get(HISTORY)).headers["ETag"] == '"2"'


async def test_a_write_on_a_stale_version_is_a_409_with_the_current_version(
    post: Post, ledger: Ledger, agency: dict[str, Any]
) -> None:
    await write(post, "join-region", JOIN)
    head = ledger.head()

    response = await post("leave-region", LEAVE, If_Match='"1"')

    body = await problem(response, 409, "version_mismatch")
    assert body["current_version"] == 2
    assert body["entity_kind"] == "agency"
    assert body["entity_id"] == agency["entity_id"]
    assert response.headers["ETag"] == '"2"'
    assert ledger.head() == head


async def test_if_match_may_list_several_versions_or_any(
    post: Post, agency: dict[str, Any]
) -> None:
    joined = await post("join-region", JOIN, If_Match='"5", "1"')
    left = await post("leave-region", LEAVE, If_Match="*")

    assert joined.status == 201
    assert left.status == 201


async def test_if_match_any_on_a_create_is_a_409_the_entity_did_not_exist(post: Post) -> None:
    await write(post, "register-coc", MO)

    response = await post(
        "register-agency",
        {"coc": "MO-606", "agency_ref": "AG9", "agency_name": "New"},
        If_Match="*",
    )

    body = await problem(response, 409, "version_mismatch")
    assert body["current_version"] == 0
    assert "ETag" not in response.headers


@pytest.mark.parametrize("value", ["1", 'W/"1"', '"one"', '""'])
async def test_a_malformed_if_match_is_a_400_problem(
    post: Post, agency: dict[str, Any], value: str
) -> None:
    await problem(await post("join-region", JOIN, If_Match=value), 400, "invalid_header")


async def test_a_replay_under_a_stale_if_match_answers_the_original_receipt(
    post: Post, agency: dict[str, Any]
) -> None:
    first = await write(post, "join-region", JOIN, If_Match='"1"', Idempotency_Key="join-r1")

    again = await post("join-region", JOIN, If_Match='"1"', Idempotency_Key="join-r1")

    assert again.status == 200
    assert (await again.json())["position"] == first["position"]
    assert "ETag" not in again.headers


async def test_of_two_concurrent_writes_expecting_one_version_exactly_one_is_written(
    post: Post, agency: dict[str, Any]
) -> None:
    await write(post, "add-region", REGION | {"region": "R2", "region_name": "Region 2"})

    answers = await asyncio.gather(
        post("join-region", JOIN, If_Match='"1"'),
        post("join-region", JOIN | {"region": "R2"}, If_Match='"1"'),
    )

    assert sorted(a.status for a in answers) == [201, 409]
