"""Write endpoints: one route per command, receipts, idempotency and every kind of refusal."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from commands.registry import COMMANDS
from ledger.application import Ledger
from ledger.clock import FixedClock
from tests.api.support import ACTOR, MO, Client, CocAdmins, Post, bearer, issue, problem


@pytest.mark.parametrize("name", list(COMMANDS))
async def test_every_command_has_a_route_that_validates_its_body(
    lone_post: Post, name: str
) -> None:
    body = await problem(await lone_post(name, {}), 422, "validation_failed")

    assert {"loc": ["coc"], "msg": "Field required", "type": "missing"} in body["errors"]


async def test_an_empty_body_is_validated_as_an_empty_object(lone_post: Post) -> None:
    body = await problem(await lone_post("register-coc", data=b""), 422, "validation_failed")

    assert {tuple(e["loc"]) for e in body["errors"]} == {("coc",), ("coc_name",)}


async def test_command_list_names_every_command_with_its_json_schema(lone_client: Client) -> None:
    response = await lone_client.get("/v1/commands")

    assert response.status == 200
    listed = {c["name"]: c for c in (await response.json())["commands"]}
    assert listed.keys() == COMMANDS.keys()
    assert (
        listed["register-agency"]["schema"] == COMMANDS["register-agency"].model.model_json_schema()
    )
    assert listed["register-agency"]["path"] == "/v1/commands/register-agency"


async def test_unknown_command_is_a_404_problem(lone_post: Post) -> None:
    await problem(await lone_post("launch-rocket", {"coc": "MO-606"}), 404, "not_found")


async def test_get_on_a_command_route_is_a_405_problem_naming_post(lone_client: Client) -> None:
    response = await lone_client.get("/v1/commands/register-coc")

    await problem(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == "POST"


async def test_posted_command_is_in_the_entity_history_with_both_clocks_and_actor(
    client: Client, post: Post, clock: FixedClock
) -> None:
    effective = clock.now() - timedelta(days=3)
    await post("register-coc", MO)

    response = await post(
        "register-agency",
        {
            "coc": "MO-606",
            "agency_ref": "AG1",
            "agency_name": "Riverbend Shelter",
            "effective_at": effective.isoformat(),
        },
        X_Request_ID="req-42",
    )

    assert response.status == 201
    receipt = await response.json()
    assert (receipt["command"], receipt["entity_kind"], receipt["replayed"]) == (
        "register-agency",
        "agency",
        False,
    )
    history = await (await client.get("/v1/cocs/MO-606/entities/agency/AG1/history")).json()
    assert history["entity_id"] == receipt["entity_id"]
    assert history["kind"] == "agency"
    [event] = history["items"]
    assert event["type"] == "Agency.Registered"
    assert event["position"] == receipt["events"][0]["position"]
    assert event["version"] == 1
    assert datetime.fromisoformat(event["effective_at"]) == effective
    assert datetime.fromisoformat(event["recorded_at"]) == clock.now()
    assert (event["actor"], event["source"], event["request_id"]) == (ACTOR, "api", "req-42")
    assert event["payload"] == {
        "ref": "AG1",
        "name": "Riverbend Shelter",
        "hmis_participating": True,
    }
    by_id = await client.get(response.headers["Location"])
    assert (await by_id.json()) == history


async def test_retry_with_the_same_idempotency_key_replays_the_receipt_and_writes_nothing(
    ledger: Ledger, post: Post
) -> None:
    first = await post("register-coc", MO, Idempotency_Key="coc-1")
    head = ledger.head()

    again = await post("register-coc", MO, Idempotency_Key="coc-1")

    assert (first.status, again.status) == (201, 200)
    original, replayed = await first.json(), await again.json()
    assert replayed["replayed"] is True
    assert replayed["position"] == original["position"]
    assert replayed["events"] == original["events"]
    assert replayed["idempotency_key"] == "coc-1"
    assert ledger.head() == head


async def test_a_quoted_idempotency_key_header_means_the_key_inside_the_quotes(post: Post) -> None:
    await post("register-coc", MO, Idempotency_Key="coc-1")

    again = await post("register-coc", MO, Idempotency_Key='"coc-1"')

    assert again.status == 200
    assert (await again.json())["idempotency_key"] == "coc-1"


async def test_idempotency_key_in_body_and_header_alike_is_accepted(post: Post) -> None:
    response = await post("register-coc", MO | {"idempotency_key": "k"}, Idempotency_Key="k")

    assert response.status == 201
    assert (await response.json())["idempotency_key"] == "k"


async def test_idempotency_keys_in_body_and_header_that_differ_are_a_422_problem(
    ledger: Ledger, post: Post, admins: CocAdmins
) -> None:
    await admins.secret("MO-606")
    head = ledger.head()

    response = await post("register-coc", MO | {"idempotency_key": "a"}, Idempotency_Key="b")

    await problem(response, 422, "idempotency_key_mismatch")
    assert ledger.head() == head


async def test_an_invalid_idempotency_key_header_is_a_422_problem(lone_post: Post) -> None:
    await problem(
        await lone_post("register-coc", MO, Idempotency_Key="has space"), 422, "invalid_header"
    )


async def test_same_idempotency_key_with_another_payload_is_a_409_problem(
    ledger: Ledger, post: Post
) -> None:
    await post("register-coc", MO, Idempotency_Key="coc-1")
    head = ledger.head()

    response = await post("register-coc", MO | {"coc_name": "Other"}, Idempotency_Key="coc-1")

    await problem(response, 409, "idempotency_key_reused")
    assert ledger.head() == head


async def test_a_rule_violation_is_a_422_problem_naming_the_rule(post: Post) -> None:
    await post("register-coc", MO)
    region = {"coc": "MO-606", "region": "R1", "region_name": "Region 1"}
    await post("add-region", region)

    body = await problem(await post("add-region", region), 422, "rule_violation")

    assert body["rule"] == "coc/region-unique"


async def test_a_duplicate_entity_is_a_409_problem(post: Post) -> None:
    await post("register-coc", MO)

    await problem(await post("register-coc", MO), 409, "duplicate_entity")


async def test_a_command_for_an_unknown_coc_is_a_404_problem(post: Post) -> None:
    response = await post(
        "register-agency", {"coc": "XX-999", "agency_ref": "AG1", "agency_name": "A"}
    )

    await problem(response, 404, "not_found")


async def test_an_effective_time_in_the_future_is_a_422_problem(
    post: Post, clock: FixedClock
) -> None:
    future = (clock.now() + timedelta(days=1)).isoformat()

    await problem(await post("register-coc", MO | {"effective_at": future}), 422, "invalid_input")


@pytest.mark.parametrize("body", [b"{", b'{"coc": }', b"\xff\xfe", b"[1, 2"])
async def test_malformed_json_is_a_400_problem(lone_post: Post, body: bytes) -> None:
    await problem(await lone_post("register-coc", data=body), 400, "malformed_json")


async def test_json_that_is_not_an_object_is_a_422_problem(lone_post: Post) -> None:
    await problem(await lone_post("register-coc", data=b"[]"), 422, "validation_failed")


async def test_unknown_fields_are_a_422_problem(lone_post: Post) -> None:
    body = await problem(
        await lone_post("register-coc", MO | {"admin": True}), 422, "validation_failed"
    )

    assert body["errors"][0]["loc"] == ["admin"]


async def test_a_body_over_max_body_bytes_is_a_413_problem(lone_post: Post) -> None:
    oversized = MO | {"coc_name": "x" * 5000}

    await problem(await lone_post("register-coc", oversized), 413, "body_too_large")


async def test_the_actor_recorded_is_the_token_subject_and_x_actor_is_ignored(
    client: Client, ledger: Ledger
) -> None:
    secret = issue(ledger, "MO-606", subject="hmis-lead-desk")

    response = await client.post(
        "/v1/commands/register-coc", json=MO, headers=bearer(secret) | {"X-Actor": "someone-else"}
    )

    assert response.status == 201, await response.text()
    history = await (await client.get("/v1/cocs/MO-606/entities/coc/-/history")).json()
    assert history["items"][0]["actor"] == "hmis-lead-desk"
