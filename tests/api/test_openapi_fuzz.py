"""A property-based run of schemathesis against the service's own OpenAPI document: every
operation, with generated valid and invalid input, against a real server process on
loopback (demo data loaded, so CoCs and entities exist). No answer may be a 5xx, and every
answer must fit the document: a documented status, content type, headers and body schema;
input the document calls invalid must be refused with a 4xx.

The run is bounded (a fixed seed, derandomized, a few generated examples per operation).
SQLite gets the full run: schemathesis's coverage phase (every boundary and invalid value
the schema defines, for every parameter and body field) and then random examples.
PostgreSQL gets a smaller run, random examples only: most coverage cases test validation,
which runs before the store (with the coverage phase it passes too, run by hand; it is left
out to keep the suite's time down: on the 2-core machine under load from other jobs the two
runs take about 35 s and 18 s).
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from api.openapi import openapi_document
from api.responses import dumps
from ledger.application import Ledger
from ledger.settings import Settings
from tests.api.support import bearer, issue
from tests.api.test_real_server import Server, _free_port
from tests.conftest import fresh_postgres_schema

SQLITE_EXAMPLES = 6
STREAM = "text/event-stream"
POSTGRES_EXAMPLES = 4
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def _config(max_examples: int, *, coverage: bool = True) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": 20260501,
            # a route that never answers (an open stream) fails the run instead of hanging it
            "request-timeout": 10,
            "phases": {"coverage": {"enabled": coverage}},
            "generation": {
                "max-examples": max_examples,
                "deterministic": True,
                "database": "none",
                # Every request carries the run's admin token (see _Served); requests without
                # or with a bad token are the scope matrix's (tests/api/test_scope_matrix.py).
                "with-security-parameters": False,
            },
        }
    )


@dataclass(frozen=True)
class _Served:
    """A real server on loopback and the headers of a MO-606 admin token for it."""

    base: str
    headers: dict[str, str]


def _serve(env_extra: dict[str, str], settings: Settings, log: Path) -> Iterator[_Served]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("COC_LEDGER_")},
        "COC_LEDGER_PORT": str(_free_port()),
        "COC_LEDGER_LOAD_DEMO_DATA": "true",
        "COC_LEDGER_LOG_FORMAT": "json",
        "COC_LEDGER_LOG_LEVEL": "warning",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        # the demo's signing key, made on its first start: not in the checkout's var/
        "COC_LEDGER_SIGNING_KEY_PATH": str(log.parent / "signing-key.pem"),
        **env_extra,
    }
    server = Server(env, log)
    try:
        server.wait_healthy()
        ledger = Ledger(settings)  # as scripts/token does, beside the running service
        try:
            secret = issue(ledger, "MO-606", subject="fuzz-run")
        finally:
            ledger.close()
        yield _Served(server.base, bearer(secret))
    finally:
        server.stop()


@pytest.fixture(scope="module")
def sqlite_served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Served]:
    folder = tmp_path_factory.mktemp("fuzz-sqlite")
    path = folder / "ledger.sqlite3"
    settings = Settings(sqlite_path=path, load_demo_data=False)
    yield from _serve({"COC_LEDGER_SQLITE_PATH": str(path)}, settings, folder / "log")


def _document() -> dict[str, Any]:
    """The document as the service makes it (the routes need no store to be described)."""
    settings = Settings(sqlite_path=Path("unused.sqlite3"), load_demo_data=False)
    return openapi_document(create_app(settings).router)


def _answered_document() -> dict[str, Any]:
    """The document without the operations that answer with an open stream (Server-Sent
    Events): a request-and-response run cannot read them to their end
    (tests/api/test_event_stream.py tests the stream)."""
    document = _document()
    for methods in document["paths"].values():
        for method, operation in list(methods.items()):
            if STREAM in operation["responses"].get("200", {}).get("content", {}):
                del methods[method]
    return document


# Loaded when the module is collected: schemathesis makes one test per operation from it.
SCHEMA = schemathesis.openapi.from_dict(_answered_document(), config=_config(SQLITE_EXAMPLES))


def test_the_served_document_is_the_one_under_test(sqlite_served: _Served) -> None:
    with urllib.request.urlopen(f"{sqlite_served.base}/v1/openapi.json", timeout=10) as answer:
        assert json.loads(answer.read()) == json.loads(dumps(_document()))


@SCHEMA.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_within_its_schema_on_sqlite(
    case: schemathesis.Case, sqlite_served: _Served
) -> None:
    case.call_and_validate(
        base_url=sqlite_served.base, headers=sqlite_served.headers, checks=CHECKS
    )


@pytest.fixture(scope="module")
def postgres_served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Served]:
    folder = tmp_path_factory.mktemp("fuzz-postgres")
    with fresh_postgres_schema("fuzz") as store:
        settings = Settings(database_url=store, load_demo_data=False)
        yield from _serve({"COC_LEDGER_DATABASE_URL": store}, settings, folder / "log")


POSTGRES_SCHEMA = schemathesis.openapi.from_dict(
    _answered_document(), config=_config(POSTGRES_EXAMPLES, coverage=False)
)


@pytest.mark.postgres
@POSTGRES_SCHEMA.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_within_its_schema_on_postgres(
    case: schemathesis.Case, postgres_served: _Served
) -> None:
    case.call_and_validate(
        base_url=postgres_served.base, headers=postgres_served.headers, checks=CHECKS
    )
