"""Shared fixtures: a ledger on SQLite and on PostgreSQL (one fresh schema per test)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest

from commands.base import Caller, Command, Receipt
from commands.registry import run
from ledger.application import Ledger
from ledger.clock import FixedClock
from ledger.domain.base import Source
from ledger.domain.tokens import SECRET_PREFIX
from ledger.settings import Settings

POSTGRES_URL_VARIABLE = "COC_TEST_POSTGRES_URL"
UNDER_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def postgres_url() -> str:
    """The PostgreSQL URL for tests; skips without one, except under CI where it fails."""
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not url:
        message = f"{POSTGRES_URL_VARIABLE} is not set: PostgreSQL tests need a server"
        if UNDER_CI:
            pytest.fail(message + " (CI=true: a skipped PostgreSQL test is a failure)")
        pytest.skip(message)
    return url


@contextmanager
def fresh_postgres_schema(prefix: str = "t") -> Iterator[str]:
    """A URL pointing at a fresh, empty schema that is dropped afterwards (skips the test
    when PostgreSQL is unreachable, except under CI, where that fails it)."""
    url = postgres_url()
    schema = f"{prefix}_{uuid4().hex[:16]}"
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    except psycopg.OperationalError as err:
        if UNDER_CI:
            pytest.fail(f"PostgreSQL at {POSTGRES_URL_VARIABLE} is unreachable: {err}")
        pytest.skip(f"PostgreSQL unreachable: {err}")
    try:
        yield f"{url}?schema={schema}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def postgres_schema_url() -> Iterator[str]:
    """A URL pointing at a fresh, empty schema that is dropped afterwards."""
    with fresh_postgres_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for a fresh store, once per backend."""
    if request.param == "sqlite":
        return Settings(sqlite_path=tmp_path / "ledger.sqlite3", load_demo_data=False)
    url = request.getfixturevalue("postgres_schema_url")
    return Settings(database_url=url, load_demo_data=False)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def ledger(settings: Settings, clock: FixedClock) -> Iterator[Ledger]:
    app = Ledger(settings, clock=clock)
    yield app
    app.close()


CALLER = Caller(actor="tester", source=Source.CLI, request_id="req-test")


@pytest.fixture
def do(ledger: Ledger) -> Callable[[Command], Receipt]:
    """Run a command on the test ledger as a fixed caller."""

    def _do(command: Command) -> Receipt:
        return run(ledger, command, CALLER)

    return _do


# --- no personal data or secrets in the logs of any test ---------------------------------

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
TOKEN_SECRET = re.compile(re.escape(SECRET_PREFIX) + r"[A-Za-z0-9_-]{20,}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Fail a test whose captured output (logs included) shows an e-mail address or a
    token secret: the whole run's logs stay free of both."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if report.when != "teardown":
        return
    leaks = [
        f"{title}: {what}"
        for title, text in report.sections
        for what, pattern in (("an e-mail address", EMAIL), ("a token secret", TOKEN_SECRET))
        if pattern.search(text)
    ]
    if leaks:
        report.outcome = "failed"
        report.longrepr = "captured output shows personal data or a secret:\n" + "\n".join(leaks)
