"""API test fixtures: a test client over the app, on both backends or on SQLite only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from api.keys import LEDGER
from ledger.application import Ledger
from ledger.settings import Settings
from tests.api.support import Client, CocAdmins, Post, poster


@pytest.fixture
def admins(ledger: Ledger) -> CocAdmins:
    return CocAdmins(lambda: ledger)


@pytest.fixture
async def client(settings: Settings, ledger: Ledger, admins: CocAdmins) -> AsyncIterator[Client]:
    """A client of the app over the test ledger (SQLite and PostgreSQL), acting as the admin
    of the CoC each request names."""
    app = create_app(settings, ledger)
    async with TestClient(TestServer(app), middlewares=(admins.middleware,)) as test_client:
        yield test_client


@pytest.fixture
def post(client: Client, admins: CocAdmins) -> Post:
    return poster(client, admins)


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    return Settings(sqlite_path=tmp_path / "api.sqlite3", load_demo_data=False, max_body_bytes=4096)


@pytest.fixture
def lone_app(sqlite_settings: Settings) -> web.Application:
    """An app that builds its own SQLite ledger (for tests that store nothing but the admin
    tokens their client issues)."""
    return create_app(sqlite_settings)


@pytest.fixture
def lone_admins(lone_app: web.Application) -> CocAdmins:
    return CocAdmins(lambda: lone_app[LEDGER])


@pytest.fixture
async def lone_client(lone_app: web.Application, lone_admins: CocAdmins) -> AsyncIterator[Client]:
    async with TestClient(TestServer(lone_app), middlewares=(lone_admins.middleware,)) as client:
        yield client


@pytest.fixture
def lone_post(lone_client: Client, lone_admins: CocAdmins) -> Post:
    return poster(lone_client, lone_admins)
