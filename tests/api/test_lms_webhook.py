"""The Litmos webhook: each achievement recorded once however often it is delivered, unknown
learners held and listed (never dropped), bad deliveries refused with a problem."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import orjson
import pytest
import structlog

from ledger.application import Ledger
from ledger.domain.base import LedgerEvent
from ledger.domain.end_users import EndUser
from ledger.domain.tokens import Role
from ledger.ids import entity_id
from tests.api.support import MO, Client, Post, bearer, issue, problem, settled

WEBHOOK = "/v1/cocs/MO-606/lms/litmos/achievements"
UNMATCHED = "/v1/cocs/MO-606/lms/unmatched"
LEARNER_LOGIN = "pat.learner@example.org"
LEARNER_NAMES = ("Patricia", "Learnerson")


def delivery(achievement_id: int = 368800, **data: Any) -> dict[str, Any]:
    """A Litmos achievement.earned webhook as Litmos documents it (synthetic values)."""
    return {
        "id": 4513,
        "created": "2026-02-27T01:13:19.533",
        "type": "achievement.earned",
        "object": "event",
        "data": {
            "userId": "yj-nr8PhW8o1",
            "userName": LEARNER_LOGIN,
            "firstName": LEARNER_NAMES[0],
            "lastName": LEARNER_NAMES[1],
            "courseId": "nAcqwEA8jUo1",
            "title": "CE Assessor Training",
            "code": "MO-CE-ASSESSOR",
            "achievementDate": "2026-02-27T01:12:35.990",
            "compliantTilldate": None,
            "result": "Completed",
            "type": "Course Completed",
            "achievementId": achievement_id,
            "certificateId": "biZrK8ab0LE1",
        }
        | data,
    }


async def deliver(client: Client, body: Any, **headers: str) -> Any:
    """POST a delivery (as the CoC's admin, unless ``headers`` carry another token)."""
    return await client.post(WEBHOOK, json=body, headers=headers)


@pytest.fixture
async def missouri_user(post: Post) -> str:
    """MO-606 with one agency and one registered user (no LMS account linked yet)."""
    await post("register-coc", MO)
    await post("register-agency", {"coc": "MO-606", "agency_ref": "AG1", "agency_name": "A"})
    response = await post(
        "register-end-user", {"coc": "MO-606", "user_ref": "u1", "agency_ref": "AG1"}
    )
    assert response.status == 201
    return "u1"


async def link_account(post: Post, user_ref: str) -> Any:
    response = await post(
        "link-lms-account",
        {
            "coc": "MO-606",
            "user_ref": user_ref,
            "provider": "litmos",
            "lms_user_id": "yj-nr8PhW8o1",
        },
    )
    assert response.status == 201, await response.text()
    return await response.json()


def completions(ledger: Ledger, user_ref: str) -> list[EndUser.CourseCompleted]:
    stored = ledger.repository.get(entity_id("user", "MO-606", user_ref))
    assert isinstance(stored, EndUser)
    return list(stored.facts(EndUser.CourseCompleted))


async def test_the_same_achievement_delivered_three_times_is_recorded_once(
    client: Client, post: Post, ledger: Ledger, missouri_user: str
) -> None:
    await link_account(post, missouri_user)

    responses = [await deliver(client, delivery()) for _ in range(3)]

    assert [r.status for r in responses] == [201, 200, 200]
    bodies = [await r.json() for r in responses]
    assert [b["duplicate"] for b in bodies] == [False, True, True]
    assert {b["record_id"] for b in bodies} == {bodies[0]["record_id"]}
    assert {b["outcome"] for b in bodies} == {"recorded"}
    [completion] = completions(ledger, missouri_user)
    assert completion.source_record_id == "litmos:368800"
    assert completion.effective_at.isoformat() == "2026-02-27T01:12:35.990000+00:00"


async def test_concurrent_deliveries_of_one_achievement_are_recorded_once(
    client: Client, post: Post, ledger: Ledger, missouri_user: str
) -> None:
    await link_account(post, missouri_user)

    responses = await asyncio.gather(*(deliver(client, delivery()) for _ in range(8)))

    assert sorted(r.status for r in responses) == [200] * 7 + [201]
    assert len(completions(ledger, missouri_user)) == 1


async def test_an_unknown_user_is_reported_as_unmatched_and_listed(
    client: Client, missouri_user: str
) -> None:
    response = await deliver(client, delivery())

    assert response.status == 201
    body = await response.json()
    assert body["outcome"] == "unmatched"
    assert body["reason"] == "unknown-user"
    listed = await (await client.get(UNMATCHED)).json()
    assert [i["source_record_id"] for i in listed["items"]] == ["litmos:368800"]
    assert listed["items"][0]["record_id"] == body["record_id"]
    assert listed["items"][0]["reason"] == "unknown-user"
    assert listed["next"] is None


async def test_concurrent_deliveries_of_unknown_users_are_all_held(
    client: Client, missouri_user: str
) -> None:
    responses = await asyncio.gather(
        *(deliver(client, delivery(achievement_id=n, userId=f"stranger-{n}")) for n in range(8))
    )

    assert [r.status for r in responses] == [201] * 8
    listed = await (await client.get(UNMATCHED)).json()
    assert sorted(i["lms_user_id"] for i in listed["items"]) == [f"stranger-{n}" for n in range(8)]


async def test_linking_the_account_records_what_was_held_and_empties_the_list(
    client: Client, post: Post, ledger: Ledger, missouri_user: str
) -> None:
    await deliver(client, delivery())

    receipt = await link_account(post, missouri_user)

    assert any(e["topic"].endswith("EndUser.CourseCompleted") for e in receipt["events"])
    assert (await (await client.get(UNMATCHED)).json())["items"] == []
    assert len(completions(ledger, missouri_user)) == 1
    again = await deliver(client, delivery())
    assert again.status == 200
    assert (await again.json())["outcome"] == "recorded"


async def test_the_read_models_follow_lms_records_into_the_audit_trail(
    client: Client, post: Post, ledger: Ledger, missouri_user: str
) -> None:
    held = await (await deliver(client, delivery())).json()
    await link_account(post, missouri_user)

    await settled(client, ledger)

    trail = await (await client.get(f"/v1/cocs/MO-606/audit/user/{missouri_user}")).json()
    assert "EndUser.CourseCompleted" in [e["type"] for e in trail["items"]]
    record = UUID(held["record_id"]).hex
    trail = await (await client.get(f"/v1/cocs/MO-606/audit/lms-completion/{record}")).json()
    assert [e["type"] for e in trail["items"]] == [
        "LmsCompletion.Received",
        "LmsCompletion.Matched",
    ]


async def test_the_data_object_alone_is_accepted(
    client: Client, post: Post, missouri_user: str
) -> None:
    await link_account(post, missouri_user)

    response = await deliver(client, delivery()["data"])

    assert response.status == 201
    assert (await response.json())["outcome"] == "recorded"


async def test_a_learning_path_achievement_is_kept_as_ignored(
    client: Client, post: Post, ledger: Ledger, missouri_user: str
) -> None:
    await link_account(post, missouri_user)

    response = await deliver(client, delivery(type="Learning Path Completed", courseId=None))

    assert response.status == 201
    assert (await response.json())["outcome"] == "ignored"
    assert completions(ledger, missouri_user) == []
    assert (await (await client.get(UNMATCHED)).json())["items"] == []


async def test_learner_names_and_logins_reach_neither_the_log_nor_the_names_stored(
    client: Client, ledger: Ledger, missouri_user: str
) -> None:
    with structlog.testing.capture_logs() as logs:
        response = await deliver(client, delivery())
    record_id = (await response.json())["record_id"]

    logged = orjson.dumps(logs, default=str).decode()
    assert LEARNER_LOGIN not in logged
    assert not any(name in logged for name in LEARNER_NAMES)
    stored = b"".join(
        ledger.mapper.to_stored_event(e).state for e in ledger.events.get(UUID(record_id))
    ).decode()
    assert not any(name in stored for name in LEARNER_NAMES)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"achievementId": None}, "achievementId"),
        ({"userId": ""}, "userId"),
        ({"achievementDate": "yesterday"}, "achievementDate"),
    ],
)
async def test_an_invalid_delivery_is_a_422_naming_the_field(
    client: Client, missouri_user: str, change: dict[str, Any], where: str
) -> None:
    response = await deliver(client, delivery(**change))

    body = await problem(response, 422, "validation_failed")
    assert any(where in e["loc"] for e in body["errors"])


async def test_a_completion_in_the_future_is_refused(client: Client, missouri_user: str) -> None:
    response = await deliver(client, delivery(achievementDate="2099-01-01T00:00:00Z"))

    await problem(response, 422, "invalid_input")


async def test_a_body_that_is_not_json_is_a_400(client: Client, missouri_user: str) -> None:
    response = await client.post(WEBHOOK, data=b"{not json")

    await problem(response, 400, "malformed_json")


async def test_a_service_token_delivers_and_is_recorded_as_the_actor(
    client: Client, ledger: Ledger, missouri_user: str
) -> None:
    token = issue(ledger, "MO-606", Role.SERVICE, subject="litmos-bridge")

    response = await deliver(client, delivery(), **bearer(token))

    assert response.status == 201
    record_id = UUID((await response.json())["record_id"])
    [received] = list(ledger.events.get(record_id))
    assert isinstance(received, LedgerEvent)
    assert received.actor == "litmos-bridge"
    assert received.source == "lms"


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.AGENCY_RECORDER])
async def test_a_delivery_with_a_token_of_another_role_is_forbidden(
    client: Client, ledger: Ledger, missouri_user: str, role: Role
) -> None:
    token = issue(ledger, "MO-606", role, agency="AG1" if role is Role.AGENCY_RECORDER else None)

    response = await deliver(client, delivery(), **bearer(token))

    await problem(response, 403, "forbidden")


async def test_a_delivery_without_a_token_is_unauthenticated(
    client: Client, missouri_user: str
) -> None:
    response = await client.post(WEBHOOK, json=delivery(), middlewares=())

    await problem(response, 401, "unauthenticated")


async def test_a_service_token_may_not_read_the_unmatched_list(
    client: Client, ledger: Ledger, missouri_user: str
) -> None:
    token = issue(ledger, "MO-606", Role.SERVICE)

    response = await client.get(UNMATCHED, headers=bearer(token))

    await problem(response, 403, "forbidden")


@pytest.mark.parametrize("coc", ["ZZ-999", "not-a-coc"])
async def test_a_delivery_for_an_unknown_coc_is_not_found(client: Client, coc: str) -> None:
    response = await client.post(f"/v1/cocs/{coc}/lms/litmos/achievements", json=delivery())

    await problem(response, 404, "not_found")


async def test_the_unmatched_list_pages_with_a_cursor(client: Client, missouri_user: str) -> None:
    for n in range(3):
        await deliver(client, delivery(achievement_id=n + 1))

    first = await (await client.get(UNMATCHED, params={"limit": "2"})).json()
    rest = await (
        await client.get(UNMATCHED, params={"limit": "2", "cursor": first["next"]})
    ).json()

    listed = [i["source_record_id"] for i in first["items"] + rest["items"]]
    assert listed == ["litmos:1", "litmos:2", "litmos:3"]
    assert rest["next"] is None


async def test_a_bad_page_size_is_a_422(client: Client, missouri_user: str) -> None:
    response = await client.get(UNMATCHED, params={"limit": "0"})

    await problem(response, 422, "invalid_input")


async def test_the_unmatched_list_of_an_unregistered_coc_is_not_found(client: Client) -> None:
    response = await client.get("/v1/cocs/ZZ-999/lms/unmatched")

    await problem(response, 404, "not_found")
