"""``/readyz`` and ``/metrics``: readiness with the check that failed, Prometheus metrics by
canonical route, events appended, projection lag and queue, exact under concurrent requests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from eventsourcing.persistence import OperationalError
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from ledger.application import Ledger
from ledger.settings import Settings
from projections.readmodels import generations
from projections.readmodels.db import ReadModelDb
from projections.readmodels.projector import Projector
from tests.api.support import MO, Client, CocAdmins, Post, poster, problem

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(client: Client) -> Samples:
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(await response.text()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def requests_of(samples: Samples, route: str, status: str, method: str = "GET") -> float:
    labels = {"method": method, "route": route, "status": status}
    return value(samples, "coc_ledger_http_requests_total", **labels)


@pytest.fixture
async def unfollowed(
    settings: Settings, ledger: Ledger, admins: CocAdmins
) -> AsyncIterator[Client]:
    """A client of an app whose read models are not followed, and must not lag at all."""
    quiet = settings.model_copy(update={"readmodels_in_process": False, "ready_max_lag_events": 0})
    app = create_app(quiet, ledger)
    async with TestClient(TestServer(app), middlewares=(admins.middleware,)) as test_client:
        yield test_client


@pytest.fixture
def unfollowed_post(unfollowed: Client, admins: CocAdmins) -> Post:
    return poster(unfollowed, admins)


# --- /readyz -----------------------------------------------------------------------------------


async def test_ready_when_the_store_answers_and_the_read_models_keep_up(
    client: Client, post: Post, ledger: Ledger
) -> None:
    await post("register-coc", MO)

    response = await client.get("/readyz")

    assert response.status == 200
    body = await response.json()
    assert body["status"] == "ready"
    assert body["checks"]["store"] == {"ok": True, "head": ledger.head()}
    assert body["checks"]["readmodels"]["ok"] is True
    assert body["checks"]["readmodels"]["max_lag"] == 10_000


async def test_not_ready_while_the_read_models_lag_more_than_allowed(
    unfollowed: Client, unfollowed_post: Post, ledger: Ledger
) -> None:
    await unfollowed_post("register-coc", MO)

    response = await unfollowed.get("/readyz")

    body = await problem(response, 503, "not_ready")
    assert body["checks"]["store"]["ok"] is True
    readmodels = body["checks"]["readmodels"]
    assert readmodels["ok"] is False
    assert readmodels["lag"] == ledger.head()
    assert "events behind the log" in readmodels["error"]
    assert "readmodels" in body["detail"]
    assert response.headers["Retry-After"] == "5"


async def test_not_ready_when_the_store_does_not_answer(
    lone_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(self: Ledger) -> int:
        raise OperationalError("connection refused by db.internal")

    monkeypatch.setattr(Ledger, "head", unreachable)

    response = await lone_client.get("/readyz")

    body = await problem(response, 503, "not_ready")
    assert body["checks"]["store"] == {"ok": False, "error": "OperationalError"}
    assert body["checks"]["readmodels"]["ok"] is False
    assert "db.internal" not in await response.text()


async def test_not_ready_when_the_store_answers_too_slowly(
    sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def slow(self: Ledger) -> int:
        time.sleep(0.3)
        return 0

    monkeypatch.setattr(Ledger, "head", slow)
    impatient = sqlite_settings.model_copy(update={"ready_timeout_seconds": 0.05})
    async with TestClient(TestServer(create_app(impatient))) as client:
        response = await client.get("/readyz")

        body = await problem(response, 503, "not_ready")
        assert body["checks"]["store"] == {"ok": False, "error": "timed out"}


# --- /metrics ----------------------------------------------------------------------------------


async def test_requests_are_counted_and_timed_by_canonical_route_and_status(
    client: Client, post: Post
) -> None:
    await post("register-coc", MO)
    await client.get("/v1/cocs/MO-606/users/u-secret-ref")  # 404: no such user
    await client.get("/no/such/path/u-secret-ref")

    samples = await scrape(client)

    assert requests_of(samples, "/v1/commands/register-coc", "201", "POST") == 1
    assert requests_of(samples, "/v1/cocs/{coc}/users/{ref}", "404") == 1
    assert requests_of(samples, "unmatched", "404") == 1
    count = value(
        samples,
        "coc_ledger_http_request_duration_seconds_count",
        method="GET",
        route="/v1/cocs/{coc}/users/{ref}",
        status="404",
    )
    assert count == 1
    labels = {v for _, pairs in samples for _, v in pairs}
    assert not any("u-secret-ref" in label or "MO-606" in label for label in labels)


async def test_events_appended_are_counted_by_type(
    client: Client, post: Post, ledger: Ledger
) -> None:
    await post("register-coc", MO)
    await post("register-agency", {"coc": "MO-606", "agency_ref": "AG1", "agency_name": "A"})

    samples = await scrape(client)

    assert value(samples, "coc_ledger_events_appended_total", type="CoC.Registered") == 1
    assert value(samples, "coc_ledger_events_appended_total", type="Agency.Registered") == 1
    appended = sum(
        v for (name, _), v in samples.items() if name == "coc_ledger_events_appended_total"
    )
    assert appended == ledger.head()


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        ("application/openmetrics-text; version=1.0.0", "application/openmetrics-text"),
        ("text/plain;version=garbage.x", "text/plain; version=0.0.4"),
        ("*/*", "text/plain; version=0.0.4"),
    ],
)
async def test_the_format_follows_the_accept_header(
    lone_client: Client, accept: str, content_type: str
) -> None:
    response = await lone_client.get("/metrics", headers={"Accept": accept})

    assert response.status == 200
    assert response.headers["Content-Type"].startswith(content_type)
    assert "coc_ledger_http_requests" in await response.text()


async def test_log_position_and_projection_lag_are_gauges(
    unfollowed: Client, unfollowed_post: Post, ledger: Ledger
) -> None:
    await unfollowed_post("register-coc", MO)

    samples = await scrape(unfollowed)

    assert value(samples, "coc_ledger_store_up") == 1
    assert value(samples, "coc_ledger_log_position") == ledger.head()
    assert value(samples, "coc_ledger_readmodel_position") == 0
    assert value(samples, "coc_ledger_readmodel_lag_events") == ledger.head()


async def test_metrics_are_served_while_the_store_is_down(
    lone_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(self: Ledger) -> int:
        raise OperationalError("connection refused")

    monkeypatch.setattr(Ledger, "head", unreachable)

    samples = await scrape(lone_client)

    assert value(samples, "coc_ledger_store_up") == 0


async def test_concurrent_requests_and_writes_are_all_counted(
    client: Client, post: Post, ledger: Ledger
) -> None:
    await post("register-coc", MO)
    before = ledger.head()

    def agency(n: int) -> dict[str, Any]:
        return {"coc": "MO-606", "agency_ref": f"AG{n}", "agency_name": f"Agency {n}"}

    writes = [post("register-agency", agency(n)) for n in range(20)]
    reads = [client.get("/healthz") for _ in range(60)]
    responses = await asyncio.gather(*writes, *reads)

    assert {r.status for r in responses} == {200, 201}
    samples = await scrape(client)
    assert requests_of(samples, "/healthz", "200") == 60
    assert requests_of(samples, "/v1/commands/register-agency", "201", "POST") == 20
    appended = value(samples, "coc_ledger_events_appended_total", type="Agency.Registered")
    assert appended == 20
    assert ledger.head() - before == 20


async def test_what_the_read_models_queued_but_did_not_evaluate_is_shown_beside_the_lag(
    unfollowed: Client, unfollowed_post: Post, ledger: Ledger
) -> None:
    await unfollowed_post("register-coc", MO)
    await unfollowed_post(
        "register-agency", {"coc": "MO-606", "agency_ref": "AG1", "agency_name": "A"}
    )
    for ref in ("U1", "U2"):
        await unfollowed_post(
            "register-end-user", {"coc": "MO-606", "user_ref": ref, "agency_ref": "AG1"}
        )
    db = ReadModelDb(ledger)
    current = generations.current(db)
    assert current is not None
    projector = Projector(ledger, db, current, ledger.clock)
    projector.apply(ledger.recorder.select_notifications(start=1, limit=100))
    queued = projector.pending()
    assert queued >= 3  # the agency to derive and both users to evaluate

    ready = await (await unfollowed.get("/readyz")).json()
    samples = await scrape(unfollowed)

    assert ready["checks"]["readmodels"]["lag"] == 0
    assert ready["checks"]["readmodels"]["pending"] == queued
    assert value(samples, "coc_ledger_readmodel_lag_events") == 0
    assert value(samples, "coc_ledger_readmodel_pending") == queued

    while projector.evaluate_pending():
        pass
    ready = await (await unfollowed.get("/readyz")).json()
    assert ready["checks"]["readmodels"]["pending"] == 0
    assert value(await scrape(unfollowed), "coc_ledger_readmodel_pending") == 0
