"""Integrity over HTTP on both backends: the tree's state, keys, checkpoints, proofs and
exports; an auditor's own CoC only; a bundle that verifies after the service and its database
are gone."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from commands.signing_keys import init_key
from commands.synthetic import generate
from ledger.application import Ledger
from ledger.clock import FixedClock
from ledger.domain.tokens import Role
from ledger.integrity.store import IntegrityStore
from ledger.settings import Settings
from tests.api.support import Client, bearer, issue, problem
from tests.integration.integrity_support import (
    OPERATOR,
    Attacker,
    keyed,
    load_verifier,
    verify_isolated,
)

VERIFY = load_verifier()
OWN, OTHER = "MO-606", "CA-600"


@pytest.fixture
def fast(settings: Settings, tmp_path: Path) -> Settings:
    """Settings with a key file and a sealer that signs each time the tree grows."""
    return keyed(settings, tmp_path / "signing-key.pem").model_copy(
        update={"seal_interval_seconds": 0.05, "checkpoint_interval_seconds": 0}
    )


@pytest.fixture
def store(fast: Settings, clock: FixedClock) -> Iterator[Ledger]:
    """A ledger of the synthetic sample (four CoCs), with the operator's key in force (a test
    may close it early; closing again is harmless)."""
    ledger = Ledger(fast, clock=clock)
    generate(ledger, tier="sample", seed=2)
    init_key(ledger, fast.signing_key_path, OPERATOR)
    yield ledger
    ledger.close()


@pytest.fixture
def tokens(store: Ledger) -> dict[tuple[str, Role], str]:
    return {
        (coc, role): issue(store, coc, role, subject=f"{role}-{coc}")
        for coc in (OWN, OTHER)
        for role in (Role.AUDITOR, Role.ADMIN)
    }


@pytest.fixture
async def client(fast: Settings, store: Ledger) -> AsyncIterator[Client]:
    async with TestClient(TestServer(create_app(fast, store))) as test_client:
        yield test_client


async def sealed(client: Client, token: str) -> dict[str, Any]:
    """Wait (bounded) until the latest checkpoint covers the whole log."""
    for _ in range(200):
        status = await (await client.get("/v1/integrity", headers=bearer(token))).json()
        latest = status["latest_checkpoint"]
        if latest and latest["last_position"] == status["head"]:
            return dict(status)
        await asyncio.sleep(0.05)
    raise AssertionError(f"never sealed and signed: {status}")


async def get(client: Client, path: str, token: str) -> tuple[int, Any]:
    response = await client.get(path, headers=bearer(token))
    return response.status, await response.json(content_type=None)


async def test_the_state_keys_and_checkpoints_are_served(
    client: Client, tokens: dict[tuple[str, Role], str]
) -> None:
    auditor = tokens[OWN, Role.AUDITOR]
    status = await sealed(client, auditor)
    assert status["tree_size"] > 1000
    assert status["signing_key_held"] is True
    (key,) = (await get(client, "/v1/integrity/keys", auditor))[1]["keys"]
    assert key["key_id"] == status["key_in_force"]
    code, latest = await get(client, "/v1/integrity/checkpoints/latest", auditor)
    assert code == 200
    assert latest["key"]["key_id"] == key["key_id"]
    assert (await get(client, f"/v1/integrity/checkpoints/{latest['tree_size']}", auditor))[
        1
    ] == latest
    response = await client.get("/v1/integrity/checkpoints/7", headers=bearer(auditor))
    await problem(response, 404, "not_found")
    response = await client.get("/v1/integrity/checkpoints/seven", headers=bearer(auditor))
    await problem(response, 404, "not_found")


async def test_an_auditor_proves_an_event_of_its_own_coc_only(
    client: Client, tokens: dict[tuple[str, Role], str], store: Ledger
) -> None:
    auditor = tokens[OWN, Role.AUDITOR]
    await sealed(client, auditor)
    own, other = _positions(store, OWN), _positions(store, OTHER)
    code, document = await get(client, f"/v1/cocs/{OWN}/integrity/events/{own[3]}/proof", auditor)
    assert code == 200
    assert "is in the tree" in VERIFY.verify_inclusion(document, set())
    # another tenant's event asked for in the own CoC's path answers as no event at all
    answers = []
    for position in (other[3], 10**12):
        response = await client.get(
            f"/v1/cocs/{OWN}/integrity/events/{position}/proof", headers=bearer(auditor)
        )
        body = await problem(response, 404, "not_found")
        answers.append(body["detail"].replace(str(position), "P"))
    assert answers[0] == answers[1]
    response = await client.get(
        f"/v1/cocs/{OWN}/integrity/events/{own[3]}/proof?tree_size=x", headers=bearer(auditor)
    )
    await problem(response, 422, "invalid_input")


def _positions(ledger: Ledger, coc: str) -> list[int]:
    marker = f'"coc":"{coc}"'.encode()
    return [n.id for n in ledger.recorder.select_notifications(1, 10**6) if marker in n.state]


async def test_consistency_of_two_checkpoints_verifies_offline(
    client: Client, tokens: dict[tuple[str, Role], str], store: Ledger
) -> None:
    admin = tokens[OWN, Role.ADMIN]
    first = (await sealed(client, admin))["latest_checkpoint"]["tree_size"]
    issue(store, OWN, Role.SERVICE, subject="lms")  # the log grows
    second = (await sealed(client, admin))["latest_checkpoint"]["tree_size"]
    assert second > first
    code, document = await get(client, f"/v1/integrity/consistency?first={first}", admin)
    assert code == 200
    assert "is a prefix of" in VERIFY.verify_consistency(document, set())
    for query in (f"first={second}&second={first}", "first=zero", "second=latest"):
        response = await client.get(f"/v1/integrity/consistency?{query}", headers=bearer(admin))
        await problem(response, 422, "invalid_input")


async def test_an_export_verifies_after_the_service_and_its_database_are_gone(
    fast: Settings, store: Ledger, tokens: dict[tuple[str, Role], str], tmp_path: Path
) -> None:
    auditor = tokens[OWN, Role.AUDITOR]
    bundles: dict[str, bytes] = {}
    async with TestClient(TestServer(create_app(fast, store))) as client:
        await sealed(client, auditor)
        user = _created(store, "EndUser.Registered")
        for kind, ref in (("coc", "-"), ("agency", user["agency_ref"]), ("user", user["ref"])):
            response = await client.get(
                f"/v1/cocs/{OWN}/integrity/export/{kind}/{ref}", headers=bearer(auditor)
            )
            assert response.status == 200
            assert "attachment" in response.headers["Content-Disposition"]
            bundles[kind] = await response.read()
        for path in ("agency/NO-SUCH-AGENCY", "widget/x", "coc/MO-CFS", "agency/-"):
            response = await client.get(
                f"/v1/cocs/{OWN}/integrity/export/{path}", headers=bearer(auditor)
            )
            await problem(response, 404, "not_found")
    store.close()
    _drop_the_store(fast)
    for kind, content in bundles.items():
        path = tmp_path / f"{kind}.json"
        path.write_bytes(content)
        done = verify_isolated(path, cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.startswith("VERIFIED: ")
        assert json.loads(content)["subject"]["kind"] == kind


def _created(ledger: Ledger, topic_end: str) -> dict[str, Any]:
    for n in ledger.recorder.select_notifications(1, 10**6):
        state: dict[str, Any] = json.loads(n.state)
        if n.topic.endswith(topic_end) and state["coc"] == OWN:
            return state
    raise AssertionError(topic_end)


def _drop_the_store(settings: Settings) -> None:
    """The database is gone: the SQLite file deleted, or every table of the schema dropped."""
    if settings.database_url is None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{settings.sqlite_path}{suffix}").unlink(missing_ok=True)
        assert not settings.sqlite_path.exists()
        return
    url, _, schema = settings.database_url.partition("?schema=")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        conn.execute(f'CREATE SCHEMA "{schema}"')  # empty, for the fixture's own teardown


async def test_an_export_needs_the_signing_key_held_by_the_service(
    fast: Settings, store: Ledger, tokens: dict[tuple[str, Role], str]
) -> None:
    keyless = fast.model_copy(update={"signing_key_path": fast.signing_key_path.with_name("x")})
    async with TestClient(TestServer(create_app(keyless, store))) as client:
        response = await client.get(
            f"/v1/cocs/{OWN}/integrity/export/coc/-", headers=bearer(tokens[OWN, Role.AUDITOR])
        )
        body = await problem(response, 503, "signing_unavailable")
        assert "holds none" in body["detail"]


async def test_the_service_rechecks_the_log_on_schedule_and_reports_the_first_mismatch(
    fast: Settings, store: Ledger, tokens: dict[tuple[str, Role], str]
) -> None:
    admin = bearer(tokens[OWN, Role.ADMIN])
    scheduled = fast.model_copy(update={"selfcheck_interval_seconds": 0.2})
    async with TestClient(TestServer(create_app(scheduled, store))) as client:
        await sealed(client, tokens[OWN, Role.ADMIN])
        position = _positions(store, OWN)[5]
        await asyncio.to_thread(Attacker(IntegrityStore(store)).change_one_byte, position)
        for _ in range(200):
            last = (await (await client.get("/v1/integrity", headers=admin)).json())[
                "last_selfcheck"
            ]
            if last is not None and not last["ok"]:
                break
            await asyncio.sleep(0.05)
        assert last is not None
        assert last["first_mismatch"]["position"] == position
        assert "changed after sealing" in last["first_mismatch"]["reason"]
