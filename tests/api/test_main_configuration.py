"""``python -m api`` refuses bad configuration with exit 2, without echoing secrets."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import structlog

from api.__main__ import main
from ledger import event_loop


def test_bad_configuration_exits_2_without_printing_the_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COC_LEDGER_DATABASE_URL", "mysql://admin:hunter2-secret@db/coc")

    assert main([]) == 2

    err = capsys.readouterr().err
    assert "database_url" in err
    assert "hunter2-secret" not in err


def test_uvloop_asked_for_where_it_is_missing_exits_2_saying_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        event_loop.importlib.util,
        "find_spec",
        lambda name, *args: None if name == "uvloop" else real(name, *args),
    )
    monkeypatch.setenv("COC_LEDGER_EVENT_LOOP", "uvloop")
    monkeypatch.setenv("COC_LEDGER_SQLITE_PATH", str(tmp_path / "ledger.sqlite3"))
    monkeypatch.setenv("COC_LEDGER_LOG_FORMAT", "json")
    saved = structlog.get_config()
    try:
        assert main([]) == 2
    finally:  # main configured logging for the service (to this test's captured stderr)
        structlog.configure(**saved)

    assert "uvloop is not installed here" in capsys.readouterr().err
    assert not (tmp_path / "ledger.sqlite3").exists()  # refused before the store was opened
