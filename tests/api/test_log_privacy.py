"""The service's logs, as production writes them, show no e-mail address and no token: neither
of the data recorded, nor of token subjects, bodies, query strings, bad headers or errors."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import structlog
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from commands.tokens import revoke_token
from ledger.application import Ledger
from ledger.clock import FixedClock
from ledger.domain.tokens import Role, secret_digest, token_id
from ledger.logging import configure_logging
from ledger.settings import Settings
from tests.api.support import MO, OPERATOR, bearer, issue
from tests.conftest import EMAIL

PERSON_EMAIL = "robin.example@example.org"
MO_USER = {"coc": "MO-606", "user_ref": "u1", "agency_ref": "AG1", "person_name": "Robin Example"}


async def test_logs_of_api_requests_show_no_email_address_and_no_token(
    settings: Settings,
    ledger: Ledger,
    clock: FixedClock,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secrets = {
        role: issue(ledger, "MO-606", role, subject=f"{role}.desk@example.org", agency="AG1")
        if role is Role.AGENCY_RECORDER
        else issue(ledger, "MO-606", role, subject=f"{role}.desk@example.org")
        for role in Role
    }
    foreign = issue(ledger, "WI-500", subject="wi.admin@example.org")
    revoked = issue(ledger, "MO-606", subject="gone@example.org")
    revoke_token(ledger, token_id(secret_digest(revoked)), "left", OPERATOR)
    expiring = issue(ledger, "MO-606", subject="soon@example.org", days=1)
    admin = bearer(secrets[Role.ADMIN])
    configure_logging(Settings(log_format="json", log_level="debug", load_demo_data=False))
    caplog.set_level(logging.DEBUG)
    requests = 0
    try:
        server = TestServer(create_app(settings, ledger))
        await server.start_server(access_log=None)  # as python -m api runs it
        async with TestClient(server) as client:

            async def post(command: str, body: object, headers: dict[str, str]) -> int:
                nonlocal requests
                requests += 1
                response = await client.post(f"/v1/commands/{command}", json=body, headers=headers)
                return response.status

            async def get(path: str, headers: dict[str, str]) -> str:
                nonlocal requests
                requests += 1
                return await (await client.get(path, headers=headers)).text()

            assert await post("register-coc", MO, admin) == 201
            agency = {"coc": "MO-606", "agency_ref": "AG1", "agency_name": "A"}
            assert await post("register-agency", agency, admin) == 201
            registered = MO_USER | {"email": PERSON_EMAIL}
            assert (
                await post("register-end-user", registered, bearer(secrets[Role.RECORDER])) == 201
            )
            ticket = {
                "coc": "MO-606",
                "user_ref": "u1",
                "ticket_ref": "T1",
                "person_name": "Robin Example",
                "agency_email": "robin.work@example.org",
                "lms_username": "robin",
                "expected_responsibilities": ["intake"],
                "projects": ["Shelter"],
                "requested_by": "ata",
            }
            desk = bearer(secrets[Role.AGENCY_RECORDER])
            assert await post("request-training", ticket, desk) == 201
            # the recorded e-mail addresses come back in answers (never in logs)
            history = await get("/v1/cocs/MO-606/entities/user/u1/history", admin)
            assert PERSON_EMAIL in history
            assert "robin.work@example.org" in history
            # refusals and failures that carry e-mail addresses in what was sent
            bad_email = MO_USER | {"user_ref": "u2", "email": "not-an-email@"}
            assert await post("register-end-user", bad_email, admin) == 422
            wrong_type = MO_USER | {"user_ref": PERSON_EMAIL}
            assert await post("register-end-user", wrong_type, admin) == 422
            requests += 1
            malformed = await client.post(
                "/v1/commands/register-end-user",
                data=b'{"email": "robin.example@example.org", ',
                headers=admin,
            )
            assert malformed.status == 400
            await get(f"/v1/cocs/MO-606/users?agency={PERSON_EMAIL}", bearer(secrets[Role.SERVICE]))
            await get(f"/v1/cocs/MO-606/users/{PERSON_EMAIL}/compliance", admin)
            for headers in (
                {"Authorization": f"Bearer {PERSON_EMAIL}"},
                {"Authorization": PERSON_EMAIL},
                bearer(revoked),
                bearer("cocl_" + "Z" * 43),
                bearer(foreign),
                {"X-Actor": PERSON_EMAIL, "X-Request-ID": PERSON_EMAIL},
            ):
                await get("/v1/cocs/MO-606/audit/user/u1", headers)
            assert await post("sign-form", {"coc": "MO-606", "user_ref": "u1"}, desk) == 422
            clock.advance(timedelta(days=2))
            await get("/v1/cocs/MO-606/users", bearer(expiring))

            def broken(self: Ledger, aggregate_id: object) -> None:
                raise RuntimeError(f"internal failure for {PERSON_EMAIL}")

            monkeypatch.setattr(Ledger, "history", broken)
            assert "internal_error" in await get("/v1/cocs/MO-606/entities/user/u1/history", admin)
    finally:
        structlog.reset_defaults()

    captured = capsys.readouterr()
    printed = captured.out + captured.err + caplog.text
    assert printed.count('"event":"request"') == requests
    assert str(token_id(secret_digest(secrets[Role.AGENCY_RECORDER]))) in printed
    leak = EMAIL.search(printed)
    assert leak is None, printed[max(0, leak.start() - 400) : leak.start()]
    for secret in [*secrets.values(), foreign, revoked, expiring]:
        assert secret not in printed
        assert secret_digest(secret) not in printed
