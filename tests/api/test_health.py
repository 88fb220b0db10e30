"""``/healthz``: the log head while the store answers, a 503 problem when it does not."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer
from eventsourcing.persistence import OperationalError

from api.app import create_app
from api.keys import LEDGER
from ledger.application import Ledger
from ledger.settings import Settings
from tests.api.support import MO, Client, Post, problem


async def test_health_reports_ok_and_the_log_head(
    client: Client, post: Post, ledger: Ledger
) -> None:
    await post("register-coc", MO)

    response = await client.get("/healthz")

    assert response.status == 200
    assert await response.json() == {"status": "ok", "head": ledger.head()}
    assert ledger.head() > 0


async def test_app_without_a_ledger_builds_one_and_closes_it_on_shutdown(
    sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[Ledger] = []
    original_close = Ledger.close

    def close(self: Ledger) -> None:
        closed.append(self)
        original_close(self)

    monkeypatch.setattr(Ledger, "close", close)
    async with TestClient(TestServer(create_app(sqlite_settings))) as test_client:
        response = await test_client.get("/healthz")
        assert await response.json() == {"status": "ok", "head": 0}
        own = test_client.app[LEDGER]
        # only the app's own ledger counts: an earlier test's, collected meanwhile, is
        # closed by eventsourcing's Application.__del__
        assert [ledger for ledger in closed if ledger is own] == []

    assert [ledger for ledger in closed if ledger is own] == [own]


async def test_health_is_a_503_problem_when_the_store_does_not_answer(
    lone_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(self: Ledger) -> int:
        raise OperationalError("connection refused")

    monkeypatch.setattr(Ledger, "head", unreachable)

    response = await lone_client.get("/healthz")

    await problem(response, 503, "store_unavailable")
    assert "Retry-After" in response.headers
