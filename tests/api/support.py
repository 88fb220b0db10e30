"""Helpers of the API tests: posting commands and asserting RFC 9457 problems."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient

ACTOR = "intake.admin@example.org"
MO = {"coc": "MO-606", "coc_name": "Demo BoS", "process": "mo-bos"}
Client = TestClient[web.Request, web.Application]
Post = Callable[..., Awaitable[ClientResponse]]


def poster(test_client: Client) -> Post:
    """POST a command as ``ACTOR`` (``actor=None``: no X-Actor); keyword headers use _ for -."""

    async def post(
        command: str,
        body: Any = None,
        *,
        data: bytes | None = None,
        actor: str | None = ACTOR,
        **headers: str,
    ) -> ClientResponse:
        sent = {k.replace("_", "-"): v for k, v in headers.items()}
        if actor is not None:
            sent["X-Actor"] = actor
        return await test_client.post(f"/v1/commands/{command}", json=body, data=data, headers=sent)

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
