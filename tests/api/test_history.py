"""Entity history endpoints: by kind and ref, by id, and only within the CoC asked about."""

from __future__ import annotations

import pytest

from ledger.ids import entity_id
from tests.api.support import MO, Client, Post, problem

CA = {"coc": "CA-600", "coc_name": "Demo LA", "process": "lahsa"}


@pytest.fixture
async def two_cocs(post: Post) -> str:
    """MO-606 with agency AG1, and CA-600; returns AG1's entity id."""
    await post("register-coc", MO)
    await post("register-coc", CA)
    response = await post(
        "register-agency", {"coc": "MO-606", "agency_ref": "AG1", "agency_name": "Cedar House"}
    )
    return str((await response.json())["entity_id"])


async def test_coc_history_is_addressed_with_a_dash(client: Client, two_cocs: str) -> None:
    response = await client.get("/v1/cocs/MO-606/entities/coc/-/history")

    assert response.status == 200
    body = await response.json()
    assert body["entity_id"] == str(entity_id("coc", "MO-606"))
    assert [e["type"] for e in body["items"]] == ["CoC.Registered"]


async def test_history_lists_events_in_order_with_positions(
    client: Client, post: Post, two_cocs: str
) -> None:
    await post("add-region", {"coc": "MO-606", "region": "R1", "region_name": "Region 1"})
    await post("join-region", {"coc": "MO-606", "agency_ref": "AG1", "region": "R1"})

    events = (await (await client.get("/v1/cocs/MO-606/entities/agency/AG1/history")).json())[
        "items"
    ]

    assert [(e["type"], e["version"]) for e in events] == [
        ("Agency.Registered", 1),
        ("Agency.RegionJoined", 2),
    ]
    assert events[0]["position"] < events[1]["position"]


async def test_history_by_id_within_its_coc(client: Client, two_cocs: str) -> None:
    response = await client.get(f"/v1/cocs/MO-606/entities/by-id/{two_cocs}/history")

    assert response.status == 200
    assert (await response.json())["kind"] == "agency"


async def test_history_by_id_from_another_coc_is_a_404_problem(
    client: Client, two_cocs: str
) -> None:
    response = await client.get(f"/v1/cocs/CA-600/entities/by-id/{two_cocs}/history")

    await problem(response, 404, "not_found")


async def test_history_of_an_entity_of_another_coc_by_ref_is_a_404_problem(
    client: Client, two_cocs: str
) -> None:
    response = await client.get("/v1/cocs/CA-600/entities/agency/AG1/history")

    await problem(response, 404, "not_found")


async def test_history_by_id_of_an_internal_record_is_a_404_problem(
    client: Client, post: Post, two_cocs: str
) -> None:
    await post(
        "add-region", {"coc": "MO-606", "region": "R1", "region_name": "R"}, Idempotency_Key="k1"
    )
    record_id = entity_id("idempotency", "MO-606", "k1")

    response = await client.get(f"/v1/cocs/MO-606/entities/by-id/{record_id}/history")

    await problem(response, 404, "not_found")


@pytest.mark.parametrize(
    "path",
    [
        "/v1/cocs/MO-606/entities/by-id/not-a-uuid/history",
        "/v1/cocs/MO-606/entities/by-id/00000000-0000-0000-0000-000000000000/history",
        "/v1/cocs/MO-606/entities/agency/NOPE/history",
        "/v1/cocs/MO-606/entities/spaceship/AG1/history",
        "/v1/cocs/MO-606/entities/coc/MO-606/history",
    ],
)
async def test_unknown_entities_are_404_problems(lone_client: Client, path: str) -> None:
    await problem(await lone_client.get(path), 404, "not_found")
