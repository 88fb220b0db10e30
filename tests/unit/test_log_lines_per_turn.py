"""The service's log lines: written once per turn of the event loop, at once elsewhere."""

from __future__ import annotations

import asyncio
import sys

import orjson
import pytest
import structlog

from ledger.logging import LinesPerLoopTurn, configure_logging
from ledger.settings import Settings


class CountingFile:
    def __init__(self) -> None:
        self.writes: list[str] = []
        self.flushes = 0

    def write(self, text: str) -> None:
        self.writes.append(text)

    def flush(self) -> None:
        self.flushes += 1


def test_lines_logged_in_one_turn_of_the_loop_are_written_together_after_it() -> None:
    out = CountingFile()
    logger = LinesPerLoopTurn(out)

    async def serve() -> list[str]:
        for n in range(3):
            logger.info(f"line {n}")
        during = list(out.writes)
        await asyncio.sleep(0)  # the loop's next turn
        logger.info("line 3")
        await asyncio.sleep(0)
        return during

    during = asyncio.run(serve())
    assert during == []
    assert out.writes == ["line 0\nline 1\nline 2\n", "line 3\n"]
    assert out.flushes == 2


def test_lines_logged_outside_a_loop_are_written_at_once() -> None:
    out = CountingFile()
    logger = LinesPerLoopTurn(out)
    logger.error("first")
    logger.info("second")
    assert out.writes == ["first\n", "second\n"]


def test_lines_still_waiting_when_the_loop_stops_are_written_by_flush() -> None:
    out = CountingFile()
    logger = LinesPerLoopTurn(out)

    async def last_words() -> None:
        logger.warning("stopping")  # the loop ends before its next turn

    asyncio.run(last_words())
    logger.flush()  # registered to run at exit
    logger.flush()  # nothing left: nothing written
    assert out.writes == ["stopping\n"]


def test_the_service_configuration_writes_json_lines_per_turn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = CountingFile()
    with monkeypatch.context() as patched:
        patched.setattr(sys, "stderr", out)
        configure_logging(Settings(log_format="json", load_demo_data=False), per_loop_turn=True)

    async def two_requests() -> None:
        structlog.get_logger("api").info("request", route="/a", email="x@example.org")
        structlog.get_logger("api").info("request", route="/b")
        await asyncio.sleep(0)

    try:
        asyncio.run(two_requests())
    finally:
        structlog.reset_defaults()
    assert len(out.writes) == 1
    lines = [orjson.loads(line) for line in out.writes[0].splitlines()]
    assert [line["route"] for line in lines] == ["/a", "/b"]
    assert lines[0]["email"] == "[redacted]"
