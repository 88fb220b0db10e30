"""Read-model endpoints and time travel on both clocks, over HTTP."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from pydantic import BaseModel

from api.models import AgencySummary, Calendar, UserPage, UserStatus
from commands.corrections import RetractEvent
from commands.demo import load_demo
from commands.registry import run
from commands.tokens import MAX_DAYS
from ledger.application import Ledger
from ledger.clock import FixedClock
from ledger.domain.end_users import EndUser
from ledger.domain.tokens import Role
from tests.api.support import Client, bearer, issue, settled
from tests.conftest import CALLER
from tests.integration.builders import complete_course, register_user, user

LATE = "wi-late"


async def test_read_models_answer_users_agencies_regions_calendar_and_trail(
    client: Client, ledger: Ledger
) -> None:
    await asyncio.to_thread(load_demo, ledger)
    await settled(client, ledger)
    page = await (await client.get("/v1/cocs/WI-500/users?limit=1")).json()
    assert [u["ref"] for u in page["items"]] == ["wi-u1"]
    assert page["next"] is None  # the only user: no further page
    one = await (await client.get("/v1/cocs/WI-500/users/wi-u1")).json()
    assert one["overall"] == "compliant"
    agency = await (await client.get("/v1/cocs/WI-500/agencies/WI-NWH")).json()
    assert agency["users"] == {"compliant": 1}
    region = await (await client.get("/v1/cocs/MO-606/regions/R1/case-conferencing")).json()
    assert [a["agency_ref"] for a in region["items"]] == ["MO-CFS"]
    calendar = await (await client.get("/v1/cocs/IL-510/calendar?days=366")).json()
    assert any(e["subject_ref"] == "il-u1" and not e["breached"] for e in calendar["items"])
    trail = await (await client.get("/v1/cocs/WI-500/audit/user/wi-u1")).json()
    assert trail["items"][0]["type"] == "EndUser.Registered"
    bad = await client.get("/v1/cocs/WI-500/calendar?days=0")
    assert bad.status == 422
    missing = await client.get("/v1/cocs/WI-500/users/nobody")
    assert missing.status == 404


async def test_answers_rendered_as_projected_are_what_their_models_render(
    client: Client, ledger: Ledger
) -> None:
    """The routes that render a read model's rows without validating them again
    (api/responses.projected_response) answer exactly what their answer models would."""
    await asyncio.to_thread(load_demo, ledger)
    await settled(client, ledger)
    checked = 0
    for coc, user_ref, agency_ref in [("WI-500", "wi-u1", "WI-NWH"), ("IL-510", "il-u1", None)]:
        answers: list[tuple[str, type[BaseModel]]] = [
            (f"/v1/cocs/{coc}/users/{user_ref}", UserStatus),
            (f"/v1/cocs/{coc}/users?limit=5", UserPage),
            (f"/v1/cocs/{coc}/calendar?days=366&limit=3", Calendar),
        ]
        if agency_ref is not None:
            answers.append((f"/v1/cocs/{coc}/agencies/{agency_ref}", AgencySummary))
        for path, model in answers:
            answer = await client.get(path)
            body = await answer.json()
            assert answer.status == 200, body
            rendered = model.model_validate(body).model_dump(mode="json", by_alias=True)
            assert rendered == body, path
            checked += 1
    assert checked == 7


async def test_a_status_that_lapsed_by_itself_is_evaluated_at_query_time_over_http(
    client: Client, ledger: Ledger, clock: FixedClock
) -> None:
    """On SQLite the read runs on the event loop until it needs the event store, then again
    in a thread (api/reads.py); on PostgreSQL in a thread: the same answers on both."""
    await asyncio.to_thread(load_demo, ledger)
    await settled(client, ledger)
    before = await (await client.get("/v1/cocs/WI-500/users/wi-u1")).json()
    assert before["evaluated"] != "at query time"
    lapses = datetime.fromisoformat(before["evaluation"]["next_change"])
    auditor = bearer(await asyncio.to_thread(issue, ledger, "WI-500", Role.AUDITOR, days=MAX_DAYS))
    clock.advance(lapses - clock.now() + timedelta(days=1))  # no new event since
    answer = await client.get("/v1/cocs/WI-500/users/wi-u1", headers=auditor)
    after = await answer.json()
    assert answer.status == 200, after
    assert after["evaluated"] == "at query time"
    assert after["evaluation"] != before["evaluation"]
    agency = await (await client.get("/v1/cocs/WI-500/agencies/WI-NWH", headers=auditor)).json()
    assert agency["users"] == {after["overall"]: 1}
    page = await client.get("/v1/cocs/WI-500/users?agency=WI-NWH", headers=auditor)
    items = (await page.json())["items"]
    assert [(u["ref"], u["overall"]) for u in items] == [("wi-u1", after["overall"])]


async def test_time_travel_on_both_clocks_with_a_backdated_event_and_a_correction(
    client: Client, ledger: Ledger, clock: FixedClock
) -> None:
    await asyncio.to_thread(load_demo, ledger)
    do = lambda command: run(ledger, command, CALLER)  # noqa: E731
    recorded_before = clock.now()
    await asyncio.to_thread(register_user, do, "WI-500", LATE, "WI-NWH")
    clock.advance(timedelta(days=10))
    # recorded today, effective 9 days ago (backdated)
    trained_on = clock.now() - timedelta(days=9)
    await asyncio.to_thread(complete_course, do, "WI-500", LATE, "WI-CE-CORE", trained_on)
    recorded_training = clock.now()
    clock.advance(timedelta(days=5))
    completion = list(user(ledger, "WI-500", LATE).facts(EndUser.CourseCompleted))[-1]
    await asyncio.to_thread(
        do,
        RetractEvent(
            coc="WI-500",
            entity_kind="user",
            entity_ref=LATE,
            event_id=completion.event_id,
            reason="the completion belonged to someone else",
        ),
    )
    await settled(client, ledger)

    async def status(**params: str) -> str:
        query = "&".join(f"{k}={v.replace('+', '%2B')}" for k, v in params.items())
        answer = await client.get(f"/v1/cocs/WI-500/users/{LATE}/compliance?{query}")
        assert answer.status == 200, await answer.text()
        return str((await answer.json())["overall"])

    day_after_training = (trained_on + timedelta(days=1)).isoformat()
    # with everything known now (the retraction included), the user was never trained
    assert await status(as_of=day_after_training) == "non-compliant"
    # what the ledger said when the training was recorded: compliant since it took effect
    assert await status(as_of=day_after_training, known_at=recorded_training.isoformat()) == (
        "compliant"
    )
    # before the backdated completion was recorded, the ledger knew no training on that day
    assert (
        await status(
            as_of=day_after_training,
            known_at=(recorded_training - timedelta(seconds=1)).isoformat(),
        )
        == "non-compliant"
    )
    # before the user was recorded at all, the ledger did not know them
    unknown = await client.get(
        f"/v1/cocs/WI-500/users/{LATE}/compliance?known_at="
        + (recorded_before - timedelta(days=1)).isoformat().replace("+", "%2B")
    )
    assert unknown.status == 404
    # the whole CoC at the recorded time of the training
    coc = await (
        await client.get(
            "/v1/cocs/WI-500/statuses?known_at=" + recorded_training.isoformat().replace("+", "%2B")
        )
    ).json()
    assert {u["ref"]: u["overall"] for u in coc["items"]}[LATE] == "compliant"
    # the audit trail links the correction to what it corrects, and can stop at a time
    trail = (await (await client.get(f"/v1/cocs/WI-500/audit/user/{LATE}")).json())["items"]
    retraction, retracted = trail[-1], trail[-2]
    assert retraction["corrects"]["version"] == retracted["version"]
    assert retracted["corrected_by"][0]["version"] == retraction["version"]
    assert retracted["effective_at"] < retracted["recorded_at"]
    earlier = await (
        await client.get(
            f"/v1/cocs/WI-500/audit/user/{LATE}?known_at="
            + recorded_training.isoformat().replace("+", "%2B")
        )
    ).json()
    assert len(earlier["items"]) == len(trail) - 1
