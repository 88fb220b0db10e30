"""``python -m api`` refuses bad configuration with exit 2, without echoing secrets."""

from __future__ import annotations

import pytest

from api.__main__ import main


def test_bad_configuration_exits_2_without_printing_the_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COC_LEDGER_DATABASE_URL", "mysql://admin:hunter2-secret@db/coc")

    assert main([]) == 2

    err = capsys.readouterr().err
    assert "database_url" in err
    assert "hunter2-secret" not in err
