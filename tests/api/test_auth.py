"""Bearer tokens over HTTP: 401 for missing, malformed, unknown, expired or revoked tokens;
the permission table denies what it does not list; agency recorders act for their agency."""

from __future__ import annotations

import asyncio
import copy
import pickle
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request

from api.app import create_app
from api.auth import Authenticator, Principal, principal_of
from api.permissions import PERMISSIONS
from api.problems import ApiProblem
from commands.demo import load_demo
from commands.tokens import revoke_token
from ledger.application import Ledger
from ledger.clock import FixedClock
from ledger.domain.tokens import Role, secret_digest, token_id
from ledger.settings import Settings
from tests.api.support import OPERATOR, Client, bearer, issue, problem, settled

USERS = "/v1/cocs/MO-606/users"


@pytest.fixture
async def raw(settings: Settings, ledger: Ledger) -> AsyncIterator[Client]:
    """A client that sends only the headers a test gives it, over an app that reads tokens
    from the store on every request."""
    app = create_app(settings.model_copy(update={"token_cache_seconds": 0}), ledger)
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_a_request_without_a_token_is_a_401_problem_asking_for_a_bearer_token(
    raw: Client,
) -> None:
    response = await raw.get(USERS)

    await problem(response, 401, "unauthenticated")
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="coc-ledger"'


async def test_another_scheme_is_a_401_problem(raw: Client) -> None:
    response = await raw.get(USERS, headers={"Authorization": "Basic YWRtaW46YWRtaW4="})

    await problem(response, 401, "unauthenticated")


@pytest.mark.parametrize(
    "value", ["Bearer", "Bearer ", "Bearer a b", "Bearer ä", "Bearer " + "x" * 600]
)
async def test_a_malformed_bearer_token_is_a_401_invalid_token_problem(
    raw: Client, value: str
) -> None:
    response = await raw.get(USERS, headers={"Authorization": value})

    await problem(response, 401, "invalid_token")


async def test_an_unknown_token_is_a_401_invalid_token_problem(raw: Client) -> None:
    response = await raw.get(USERS, headers=bearer("cocl_" + "A" * 43))

    body = await problem(response, 401, "invalid_token")
    assert body["detail"] == "the bearer token is not known"
    assert (
        response.headers["WWW-Authenticate"] == 'Bearer realm="coc-ledger", error="invalid_token"'
    )


async def test_a_token_works_until_it_expires(
    raw: Client, ledger: Ledger, clock: FixedClock
) -> None:
    secret = issue(ledger, "MO-606", days=1)
    assert (await raw.get(USERS, headers=bearer(secret))).status == 200

    clock.advance(timedelta(days=1))
    response = await raw.get(USERS, headers=bearer(secret))

    body = await problem(response, 401, "invalid_token")
    assert body["detail"].startswith("the bearer token expired at ")


async def test_a_revoked_token_is_refused(raw: Client, ledger: Ledger) -> None:
    secret = issue(ledger, "MO-606")
    assert (await raw.get(USERS, headers=bearer(secret))).status == 200

    revoke_token(ledger, token_id(secret_digest(secret)), "the laptop was lost", OPERATOR)
    response = await raw.get(USERS, headers=bearer(secret))

    body = await problem(response, 401, "invalid_token")
    assert body["detail"] == "the bearer token was revoked"


async def test_a_revocation_takes_effect_when_the_cached_read_expires(ledger: Ledger) -> None:
    now = [100.0]
    authenticator = Authenticator(ledger, ttl_seconds=30, monotonic=lambda: now[0])
    secret = issue(ledger, "MO-606", subject="lms-bridge", role=Role.SERVICE)
    header = f"Bearer {secret}"
    assert (await authenticator.principal(header)).subject == "lms-bridge"
    revoke_token(ledger, token_id(secret_digest(secret)), "rotated", OPERATOR)

    now[0] += 29.9
    still_trusted = await authenticator.principal(header)
    now[0] += 0.1
    with pytest.raises(ApiProblem) as refused:
        await authenticator.principal(header)

    assert (still_trusted.role, refused.value.code) == (Role.SERVICE, "invalid_token")


async def test_a_new_token_works_at_once_after_an_unknown_one_was_tried(ledger: Ledger) -> None:
    authenticator = Authenticator(ledger, ttl_seconds=30)
    with pytest.raises(ApiProblem):
        await authenticator.principal("Bearer cocl_unknown")

    secret = issue(ledger, "MO-606")

    assert (await authenticator.principal(f"Bearer {secret}")).coc == "MO-606"


def test_every_registered_route_has_a_name_listed_in_the_permission_table(
    sqlite_settings: Settings,
) -> None:
    app = create_app(sqlite_settings)
    names = [resource.name for resource in app.router.resources()]

    assert None not in names
    assert [name for name in names if name not in PERMISSIONS] == []


async def test_a_route_missing_from_the_permission_table_is_denied_even_to_an_admin(
    settings: Settings, ledger: Ledger
) -> None:
    async def secret_report(_: web.Request) -> web.Response:
        return web.json_response({"leaked": True})

    app = create_app(settings, ledger)
    app.router.add_get("/v1/cocs/{coc}/secret-report", secret_report, name="secret_report")
    unnamed = app.router.add_get("/v1/unnamed", secret_report)
    assert unnamed.name is None
    admin = bearer(issue(ledger, "MO-606"))
    async with TestClient(TestServer(app)) as client:
        for path in ("/v1/cocs/MO-606/secret-report", "/v1/unnamed"):
            for headers in (admin, {}):
                await problem(await client.get(path, headers=headers), 403, "forbidden")


def test_a_handler_asking_for_the_principal_of_an_unchecked_request_is_denied() -> None:
    with pytest.raises(ApiProblem) as denied:
        principal_of(make_mocked_request("GET", "/v1/anything"))

    assert denied.value.status == 403


async def test_unknown_paths_and_methods_answer_404_and_405_without_a_token(raw: Client) -> None:
    await problem(await raw.get("/v1/nothing-here"), 404, "not_found")
    await problem(await raw.delete(USERS), 405, "method_not_allowed")


async def test_public_routes_need_no_token(raw: Client) -> None:
    assert (await raw.get("/healthz")).status == 200


async def test_a_token_of_a_coc_registers_that_coc_and_only_that_coc(
    raw: Client, ledger: Ledger
) -> None:
    admin = bearer(issue(ledger, "MO-606"))
    mine = {"coc": "MO-606", "coc_name": "Synthetic", "process": "mo-bos"}

    created = await raw.post("/v1/commands/register-coc", json=mine, headers=admin)
    other = await raw.post(
        "/v1/commands/register-coc", json=mine | {"coc": "WI-500"}, headers=admin
    )

    assert created.status == 201
    await problem(other, 404, "not_found")
    assert ledger.tenant_process("WI-500") is None


# --- agency recorders, end to end (real commands) -------------------------------------------


@pytest.fixture
async def demo(raw: Client, ledger: Ledger) -> dict[str, str]:
    """The demo data set; an agency recorder of MO-CFS (staff: mo-u1) and one of MO-RBS."""
    await asyncio.to_thread(load_demo, ledger)
    return {
        agency: issue(
            ledger, "MO-606", Role.AGENCY_RECORDER, subject=f"desk.{agency}", agency=agency
        )
        for agency in ("MO-CFS", "MO-RBS")
    }


def completion(user_ref: str) -> dict[str, str]:
    return {
        "coc": "MO-606",
        "user_ref": user_ref,
        "course_code": "MO-DATA-STANDARDS",
        "provider": "LITMOS",
    }


async def test_an_agency_recorder_records_for_its_own_staff_as_its_subject(
    raw: Client, ledger: Ledger, demo: dict[str, str]
) -> None:
    response = await raw.post(
        "/v1/commands/record-course-completion",
        json=completion("mo-u1"),
        headers=bearer(demo["MO-CFS"]),
    )

    assert response.status == 201, await response.text()
    entity = UUID((await response.json())["entity_id"])
    last = (await asyncio.to_thread(ledger.history, entity))[-1].event
    assert (type(last).__qualname__, last.actor) == ("EndUser.CourseCompleted", "desk.MO-CFS")


async def test_an_agency_recorder_is_refused_for_another_agencys_staff_and_writes_nothing(
    raw: Client, ledger: Ledger, demo: dict[str, str]
) -> None:
    head = ledger.head()

    response = await raw.post(
        "/v1/commands/record-course-completion",
        json=completion("mo-u1"),
        headers=bearer(demo["MO-RBS"]),
    )

    await problem(response, 403, "forbidden")
    assert ledger.head() == head


async def test_an_agency_recorder_naming_an_unknown_user_gets_the_commands_own_404(
    raw: Client, demo: dict[str, str]
) -> None:
    response = await raw.post(
        "/v1/commands/record-course-completion",
        json=completion("nobody"),
        headers=bearer(demo["MO-CFS"]),
    )

    body = await problem(response, 404, "not_found")
    assert body["ref"] == "nobody"


async def test_an_agency_recorder_signs_for_its_agency_but_not_for_the_regional_lead(
    raw: Client, demo: dict[str, str]
) -> None:
    desk = bearer(demo["MO-CFS"])
    mo = {"coc": "MO-606"}
    steps = [
        ("join-region", {"agency_ref": "MO-CFS", "region": "R4"}),
        (
            "draft-agreement",
            {"agreement_kind": "ce-mou", "agency_ref": "MO-CFS", "region": "R4", "revision": "1"},
        ),
        (
            "sign-agreement",
            {"agreement_ref": "ce-mou.MO-CFS.R4", "party": "agency", "signatory": "ed"},
        ),
    ]
    for command, body in steps:
        response = await raw.post(f"/v1/commands/{command}", json=mo | body, headers=desk)
        assert response.status == 201, await response.text()

    as_lead = await raw.post(
        "/v1/commands/sign-agreement",
        json=mo
        | {"agreement_ref": "ce-mou.MO-CFS.R4", "party": "regional-ce-lead", "signatory": "x"},
        headers=desk,
    )

    await problem(as_lead, 403, "forbidden")


async def test_token_records_are_served_by_no_route(
    raw: Client, ledger: Ledger, demo: dict[str, str]
) -> None:
    auditor = bearer(issue(ledger, "MO-606", Role.AUDITOR))
    await settled(raw, ledger, auditor)
    token = token_id(secret_digest(demo["MO-CFS"]))
    entities = "/v1/cocs/MO-606/entities"

    by_id = await raw.get(f"{entities}/by-id/{token}/history", headers=auditor)
    by_kind = await raw.get(f"{entities}/api-token/{token.hex}/history", headers=auditor)
    trail = await raw.get(f"/v1/cocs/MO-606/audit/api-token/{token.hex}", headers=auditor)

    for response in (by_id, by_kind, trail):
        await problem(response, 404, "not_found")


def test_a_principal_names_its_token_in_the_log_by_id_and_role_and_copies_whole() -> None:
    principal = Principal(
        token_id=UUID(int=7),
        subject="synthetic subject",
        coc="MO-606",
        role=Role.AUDITOR,
        agency_ref=None,
        expires_at=datetime(2027, 1, 1, tzinfo=UTC),
    )
    assert dict(principal.log_fields) == {"token_id": str(UUID(int=7)), "role": "auditor"}
    for copied in (pickle.loads(pickle.dumps(principal)), copy.deepcopy(principal)):
        assert copied == principal
        assert copied.log_fields == principal.log_fields
    assert "synthetic subject" not in repr(principal.log_fields)
