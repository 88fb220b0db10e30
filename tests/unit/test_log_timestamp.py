"""The log lines' timestamp: ISO 8601 UTC with microseconds, right across seconds."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from ledger import logging as ledger_logging
from ledger.logging import UtcTimestamp

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def _stamp(timestamp: UtcTimestamp) -> str:
    stamped = timestamp(None, "info", {"event": "x"})
    assert stamped["event"] == "x"  # the line's own fields are kept
    text = stamped["timestamp"]
    assert isinstance(text, str)
    return text


def test_the_timestamp_is_the_current_time_in_iso_8601_utc() -> None:
    before = datetime.now(UTC)
    text = _stamp(UtcTimestamp())
    after = datetime.now(UTC)
    assert ISO_UTC.match(text), text
    assert before <= datetime.fromisoformat(text) <= after


def test_each_line_has_its_own_time_within_and_across_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ticks = iter(
        [
            1_795_000_000_000_001_000,  # 2026-11-18T11:06:40.000001Z
            1_795_000_000_999_999_999,  # the same second, its last microsecond
            1_795_000_001_000_000_000,  # the next second
            1_795_086_400_250_000_000,  # a day later
        ]
    )
    monkeypatch.setattr(ledger_logging.time, "time_ns", lambda: next(ticks))
    timestamp = UtcTimestamp()
    assert [_stamp(timestamp) for _ in range(4)] == [
        "2026-11-18T11:06:40.000001Z",
        "2026-11-18T11:06:40.999999Z",
        "2026-11-18T11:06:41.000000Z",
        "2026-11-19T11:06:40.250000Z",
    ]
