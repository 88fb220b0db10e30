"""API test fixtures: a test client over the app, on both backends or on SQLite only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from ledger.application import Ledger
from ledger.settings import Settings
from tests.api.support import Client, Post, poster


@pytest.fixture
async def client(settings: Settings, ledger: Ledger) -> AsyncIterator[Client]:
    """A client of the app over the test ledger (SQLite and PostgreSQL)."""
    async with TestClient(TestServer(create_app(settings, ledger))) as test_client:
        yield test_client


@pytest.fixture
def post(client: Client) -> Post:
    return poster(client)


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    return Settings(sqlite_path=tmp_path / "api.sqlite3", load_demo_data=False, max_body_bytes=4096)


@pytest.fixture
async def lone_client(sqlite_settings: Settings) -> AsyncIterator[Client]:
    """A client of an app that builds its own SQLite ledger (for tests that store nothing)."""
    async with TestClient(TestServer(create_app(sqlite_settings))) as test_client:
        yield test_client


@pytest.fixture
def lone_post(lone_client: Client) -> Post:
    return poster(lone_client)
