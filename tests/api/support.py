"""Helpers of the API tests: tokens issued through the ledger, posting commands, and asserting
RFC 9457 problems.

The ``client`` fixtures act as the admin of the CoC a request names (in its path, or in a
posted command's body), unless the request carries its own ``Authorization`` header; pass
``middlewares=()`` to a request to send it without any token.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import ClientRequest, ClientResponse, web
from aiohttp.client_middlewares import ClientHandlerType
from aiohttp.test_utils import TestClient

from commands.base import Caller
from commands.tokens import TokenRequest, issue_token
from ledger.application import Ledger
from ledger.domain.base import Source
from ledger.domain.tokens import Role

# The subject of the tests' admin tokens: an e-mail address (synthetic), so that the log
# tests prove the recorded actor never reaches a log line.
ACTOR = "intake.admin@example.org"
DEFAULT_COC = "MO-606"
MO = {"coc": "MO-606", "coc_name": "Demo BoS", "process": "mo-bos"}
OPERATOR = Caller(actor="test-operator", source=Source.CLI, request_id="req-token")
Client = TestClient[web.Request, web.Application]
Post = Callable[..., Awaitable[ClientResponse]]
_PATH_COC = re.compile(r"^/v1/cocs/([A-Z]{2}-[0-9]{3})(/|$)")
_COC = re.compile(r"^[A-Z]{2}-[0-9]{3}$")


def issue(
    ledger: Ledger,
    coc: str,
    role: Role = Role.ADMIN,
    *,
    subject: str = ACTOR,
    agency: str | None = None,
    days: int = 90,
) -> str:
    """Issue a token through the ledger (as ``scripts/token create`` does); its secret."""
    request = TokenRequest(coc=coc, subject=subject, role=role, agency_ref=agency, days=days)
    return issue_token(ledger, request, OPERATOR).secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


class CocAdmins:
    """One admin token per CoC, issued on first use."""

    def __init__(self, ledger: Callable[[], Ledger]) -> None:
        self.ledger = ledger
        self.secrets: dict[str, str] = {}

    async def secret(self, coc: str) -> str:
        if coc not in self.secrets:
            self.secrets[coc] = await asyncio.to_thread(issue, self.ledger(), coc)
        return self.secrets[coc]

    async def middleware(
        self, request: ClientRequest, handler: ClientHandlerType
    ) -> ClientResponse:
        """Sign a request without a token as the admin of the CoC in its path."""
        if "Authorization" not in request.headers:
            found = _PATH_COC.match(request.url.path)
            coc = found.group(1) if found else DEFAULT_COC
            request.headers["Authorization"] = f"Bearer {await self.secret(coc)}"
        return await handler(request)


def poster(test_client: Client, admins: CocAdmins) -> Post:
    """POST a command as the admin of the CoC in its body (``token=``: as that token;
    ``token=None``: without one); keyword headers use _ for -."""

    async def post(
        command: str,
        body: Any = None,
        *,
        data: bytes | None = None,
        token: str | None = "",
        **headers: str,
    ) -> ClientResponse:
        sent = {k.replace("_", "-"): v for k, v in headers.items()}
        if token == "":
            coc = body.get("coc") if isinstance(body, dict) else None
            named = isinstance(coc, str) and _COC.match(coc)
            token = await admins.secret(coc if named else DEFAULT_COC)
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        return await test_client.post(
            f"/v1/commands/{command}", json=body, data=data, headers=sent, middlewares=()
        )

    return post


async def problem(response: ClientResponse, status: int, code: str) -> dict[str, Any]:
    """Assert ``response`` is an RFC 9457 problem with ``status`` and ``code``; return it."""
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    body: dict[str, Any] = await response.json(content_type=None)
    assert body["status"] == status
    assert body["code"] == code
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert {"type", "title", "detail"} <= body.keys()
    return body


async def settled(
    client: Client, ledger: Ledger, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """Wait (bounded) until the service's read models reach the log's head."""
    for _ in range(200):
        lag = await (await client.get("/v1/readmodels", headers=headers)).json()
        if lag["position"] == ledger.head():
            # users are evaluated right after their events are applied
            await asyncio.sleep(0.3)
            return dict(lag)
        await asyncio.sleep(0.05)
    raise AssertionError(f"read models did not catch up: {lag}")
