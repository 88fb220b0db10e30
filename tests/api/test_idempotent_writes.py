"""Every write honours Idempotency-Key: the whole demo data set posted twice over HTTP writes
once, and each replay answers 200 with the original receipt."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import commands.demo
from commands.base import Caller, Command, Receipt
from ledger.application import Ledger
from tests.api.support import Post

Written = list[tuple[Command, dict[str, Any]]]


def body(command: Command) -> dict[str, Any]:
    return command.model_dump(mode="json", exclude={"idempotency_key"})


@pytest.fixture
async def demo_written(post: Post, ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> Written:
    """The demo data set loaded over HTTP (each command with its key in Idempotency-Key):
    the loader runs in a thread and posts every command to the app; its receipts."""
    loop = asyncio.get_running_loop()
    written: Written = []

    async def post_once(command: Command) -> dict[str, Any]:
        assert command.idempotency_key is not None
        response = await post(command.name, body(command), Idempotency_Key=command.idempotency_key)
        assert response.status == 201, await response.text()
        receipt: dict[str, Any] = await response.json()
        return receipt

    def over_http(_: Ledger, command: Command, __: Caller) -> Receipt:
        receipt = asyncio.run_coroutine_threadsafe(post_once(command), loop).result(30)
        written.append((command, receipt))
        return Receipt.model_validate(receipt)

    monkeypatch.setattr(commands.demo, "run", over_http)
    await asyncio.to_thread(commands.demo.load_demo, ledger)
    return written


async def test_every_demo_write_replayed_with_its_key_answers_its_receipt_and_writes_nothing(
    post: Post, ledger: Ledger, demo_written: Written
) -> None:
    head = ledger.head()

    for command, original in demo_written:
        response = await post(
            command.name, body(command) | {"idempotency_key": command.idempotency_key}
        )
        assert response.status == 200, await response.text()
        replayed = await response.json()
        assert replayed["replayed"]
        assert replayed | {"replayed": False} == original, command.name

    assert ledger.head() == head
    assert len({command.name for command, _ in demo_written}) >= 25  # most kinds of write
