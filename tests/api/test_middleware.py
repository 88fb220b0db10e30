"""Per-request behaviour: request ids, one structured log line, no internals or personal data."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
import structlog
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from api.keys import LEDGER, SETTINGS
from ledger.application import Ledger, StoreUnavailable
from ledger.domain.tokens import secret_digest, token_id
from ledger.settings import Settings
from tests.api.support import ACTOR, MO, Client, CocAdmins, Post, poster, problem

SECRET_MESSAGE = "secret internals of robin.example@example.org"
PERSON = {
    "coc": "MO-606",
    "user_ref": "u1",
    "agency_ref": "AG1",
    "person_name": "Robin Example",
    "email": "robin.example@example.org",
}


async def test_a_given_request_id_is_echoed_and_recorded_on_the_event(
    client: Client, post: Post
) -> None:
    response = await post("register-coc", MO, X_Request_ID="trace-7")

    assert response.headers["X-Request-ID"] == "trace-7"
    history = await (await client.get("/v1/cocs/MO-606/entities/coc/-/history")).json()
    assert history["items"][0]["request_id"] == "trace-7"


@pytest.mark.parametrize("given", [None, "", "has space", "x" * 201, "robin@example.org"])
async def test_a_missing_or_unusable_request_id_is_replaced_by_a_fresh_one(
    lone_client: Client, given: str | None
) -> None:
    headers = {} if given is None else {"X-Request-ID": given}

    response = await lone_client.get("/healthz", headers=headers)

    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


async def test_each_request_logs_one_line_without_personal_data(
    client: Client, post: Post, admins: CocAdmins
) -> None:
    await post("register-coc", MO)
    await post("register-agency", {"coc": "MO-606", "agency_ref": "AG1", "agency_name": "A"})

    with structlog.testing.capture_logs() as logs:
        response = await post("register-end-user", PERSON, X_Request_ID="req-9")
        await client.get("/v1/cocs/MO-606/entities/user/u1/history")

    assert response.status == 201
    logs = request_lines(logs)
    assert [entry["event"] for entry in logs] == ["request", "request"]
    assert logs[0] == {
        "event": "request",
        "log_level": "info",
        "method": "POST",
        "route": "/v1/commands/register-end-user",
        "status": 201,
        "duration_ms": logs[0]["duration_ms"],
        "request_id": "req-9",
        "token_id": str(token_id(secret_digest(await admins.secret("MO-606")))),
        "role": "admin",
    }
    assert logs[1]["route"] == "/v1/cocs/{coc}/entities/{kind}/{ref}/history"
    printed = repr(logs)
    for secret in ("Robin", "robin.example", ACTOR):
        assert secret not in printed


async def test_a_problem_is_logged_with_its_code(lone_post: Post) -> None:
    with structlog.testing.capture_logs() as logs:
        await lone_post("register-coc", {})

    [entry] = request_lines(logs)
    assert (entry["status"], entry["code"]) == (422, "validation_failed")


async def test_an_unexpected_error_is_a_500_problem_without_internals(
    client: Client, post: Post, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Ledger, aggregate_id: object) -> None:
        raise RuntimeError(SECRET_MESSAGE)

    monkeypatch.setattr(Ledger, "history", broken)

    with structlog.testing.capture_logs() as logs:
        response = await client.get("/v1/cocs/MO-606/entities/coc/-/history")

    body = await problem(response, 500, "internal_error")
    assert "secret" not in await response.text()
    assert body["detail"].startswith("an unexpected error occurred")
    [entry] = request_lines(logs)
    assert (entry["log_level"], entry["error"]) == ("error", "RuntimeError")
    assert "broken" in entry["stack"]
    assert "robin" not in repr(entry)


async def test_an_unavailable_store_on_write_is_a_503_problem(
    settings: Settings, ledger: Ledger, admins: CocAdmins, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unavailable(self: Ledger, aggregates: object, **_: object) -> None:
        raise StoreUnavailable("lock timeout")

    await admins.secret("MO-606")
    head = ledger.head()
    monkeypatch.setattr(Ledger, "save_all", unavailable)
    async with TestClient(TestServer(create_app(settings, ledger))) as test_client:
        response = await poster(test_client, admins)("register-coc", MO)

        await problem(response, 503, "store_unavailable")
    assert ledger.head() == head


async def test_the_production_log_pipeline_prints_no_personal_data(
    client: Client, post: Post, capsys: pytest.CaptureFixture[str]
) -> None:
    from ledger.logging import configure_logging

    configure_logging(Settings(log_format="json", load_demo_data=False))
    try:
        await post("register-coc", MO)
        await post("register-agency", {"coc": "MO-606", "agency_ref": "AG1", "agency_name": "A"})
        response = await post("register-end-user", PERSON)
        await client.get("/v1/cocs/MO-606/entities/user/u1/history")
        structlog.get_logger("api").info("probe", email="robin@robin.example")
    finally:
        structlog.reset_defaults()

    printed = capsys.readouterr().err
    assert response.status == 201
    assert printed.count('"event":"request"') == 4
    assert '"email":"[redacted]"' in printed
    for secret in ("Robin", "robin.example", ACTOR):
        assert secret not in printed


def request_lines(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The request log lines (the read models' and the integrity threads log too)."""
    background = ("readmodels.", "integrity.")
    return [e for e in logs if not str(e.get("event", "")).startswith(background)]


async def test_a_line_logged_while_a_request_is_served_carries_its_request_id(
    client: Client, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from api import health
    from ledger.logging import configure_logging

    inner = health.healthz

    async def logging_healthz(request: Any) -> Any:
        structlog.get_logger("test").warning("inside the handler")
        return await inner(request)

    configure_logging(Settings(log_format="json", load_demo_data=False))
    try:
        monkeypatch.setattr(health, "healthz", logging_healthz)
        async with TestClient(
            TestServer(create_app(client.app[SETTINGS], client.app[LEDGER]))
        ) as c:
            response = await c.get("/healthz", headers={"X-Request-ID": "req-inside"})
        structlog.get_logger("test").warning("outside any request")
    finally:
        structlog.reset_defaults()
    assert response.status == 200
    lines = [orjson.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    by_event = {line["event"]: line for line in lines}
    assert by_event["inside the handler"]["request_id"] == "req-inside"
    assert by_event["request"]["request_id"] == "req-inside"
    assert "request_id" not in by_event["outside any request"]


async def test_kept_request_loggers_log_each_caller_and_outcome_as_its_own(
    settings: Settings, ledger: Ledger, admins: CocAdmins
) -> None:
    from api.middleware import ACCESS_LOG, AccessLog
    from ledger.domain.tokens import Role
    from tests.api.support import issue

    app = create_app(settings, ledger)
    kept = app[ACCESS_LOG] = AccessLog(cached=True)  # as the service's configuration has it
    auditor = issue(ledger, "MO-606", Role.AUDITOR)
    admin_id = str(token_id(secret_digest(await admins.secret("MO-606"))))
    as_auditor = {"Authorization": f"Bearer {auditor}"}
    async with TestClient(TestServer(app), middlewares=(admins.middleware,)) as c:
        await poster(c, admins)("register-coc", MO)
        with structlog.testing.capture_logs() as logs:
            for headers in ({}, as_auditor, {}, as_auditor):
                await c.get("/v1/cocs/MO-606/entities/coc/-/history", headers=headers)
            await c.get("/v1/cocs/MO-606/entities/coc/none/history", headers=as_auditor)
            await c.get("/healthz")

    lines = [
        (e["method"], e["route"], e.get("token_id"), e.get("role"), e["status"], e.get("code"))
        for e in request_lines(logs)
    ]
    history = "/v1/cocs/{coc}/entities/{kind}/{ref}/history"
    auditor_id = str(token_id(secret_digest(auditor)))
    assert lines == [
        ("GET", history, admin_id, "admin", 200, None),
        ("GET", history, auditor_id, "auditor", 200, None),
        ("GET", history, admin_id, "admin", 200, None),
        ("GET", history, auditor_id, "auditor", 200, None),
        ("GET", history, auditor_id, "auditor", 404, "not_found"),
        ("GET", "/healthz", None, None, 200, None),
    ]
    assert len(kept._bound) == 4  # register-coc, history by each caller, healthz
