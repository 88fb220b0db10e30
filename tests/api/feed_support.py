"""Helpers of the feed, stream and read-your-writes tests: writes in two CoCs, interleaved."""

from __future__ import annotations

from typing import Any

from tests.api.support import MO, Client, Post

CA = {"coc": "CA-600", "coc_name": "Demo LA", "process": "lahsa"}


async def write(post: Post, command: str, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    response = await post(command, body, **headers)
    assert response.status == 201, await response.text()
    receipt: dict[str, Any] = await response.json()
    return receipt


async def two_tenants(post: Post) -> dict[str, list[dict[str, Any]]]:
    """Receipts of writes in MO-606 and CA-600, interleaved in the log."""
    receipts: dict[str, list[dict[str, Any]]] = {"MO-606": [], "CA-600": []}
    steps: list[tuple[str, dict[str, Any]]] = [
        ("register-coc", MO),
        ("register-coc", CA),
        ("register-agency", {"coc": "MO-606", "agency_ref": "AG1", "agency_name": "Cedar"}),
        ("register-agency", {"coc": "CA-600", "agency_ref": "AG2", "agency_name": "Harbor"}),
        ("add-region", {"coc": "MO-606", "region": "R1", "region_name": "Region 1"}),
        ("register-end-user", {"coc": "CA-600", "user_ref": "U2", "agency_ref": "AG2"}),
        ("join-region", {"coc": "MO-606", "agency_ref": "AG1", "region": "R1"}),
        ("register-end-user", {"coc": "MO-606", "user_ref": "U1", "agency_ref": "AG1"}),
    ]
    for command, body in steps:
        receipts[body["coc"]].append(await write(post, command, body))
    return receipts


def event_positions(receipts: list[dict[str, Any]]) -> list[int]:
    """The log positions of every event the receipts' commands wrote, in order."""
    return sorted(e["position"] for r in receipts for e in r["events"])


async def feed(client: Client, coc: str, query: str = "") -> dict[str, Any]:
    response = await client.get(f"/v1/cocs/{coc}/events?{query}")
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


Receipts = dict[str, list[dict[str, Any]]]


async def followed_writes(client: Client, post: Post) -> Receipts:
    """Writes in two CoCs, with the read models caught up with the last of them."""
    written = await two_tenants(post)
    last = max(r["position"] for rs in written.values() for r in rs)
    await feed(client, "MO-606", f"wait_for_position={last}")
    return written
