"""scripts/import_talentlms: a Talent LMS export recorded once per completion, unknown users and
courses held, bad rows reported by line, unusable files refused with exit 2."""

from __future__ import annotations

import codecs
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest

from commands.hard_rules import IL_INTRO_COURSE
from commands.lms import unmatched
from commands.lms_links import LinkLmsAccount
from ledger.application import Ledger
from ledger.domain.end_users import EndUser
from ledger.domain.lms import LmsProvider
from ledger.ids import entity_id
from ledger.settings import Settings
from tests.integration.builders import IL_PROJECT_COURSE, Chicago, Do, chicago, il_training_request
from tests.script_modules import load_script as load_script_module

HEADER = (
    "ID,User ID,Login,Email,First name,Last name,Course ID,Course code,Course name,"
    "Completion status,Completion date,Score"
)
PERSON = "il.user.one,il-user-1@example.org,Testy,Persona"
STRANGER = "someone.else,someone.else@example.org,Other,Stranger"
ROWS = [
    f"1001,42,{PERSON},7,{IL_INTRO_COURSE},Introduction to HMIS,Completed,2026-02-20,100",
    f"1002,42,{PERSON},8,{IL_PROJECT_COURSE},ES TH SH,Completed,2026-02-21T10:00:00Z,90%",
    f"1001,42,{PERSON},7,{IL_INTRO_COURSE},Introduction to HMIS,Completed,2026-02-20,100",
    f"1003,99,{STRANGER},7,{IL_INTRO_COURSE},Introduction to HMIS,Completed,2026-02-22,80",
    f"1004,42,{PERSON},9,HR-HARASSMENT,Workplace basics,Completed,2026-02-22,",
    f"1005,42,{PERSON},10,IL-CE-HOUSING-RESOURCE-SPECIALIST,HRS,In progress,,",
    f"1006,42,{PERSON},7,{IL_INTRO_COURSE},Introduction to HMIS,Completed,2026-13-01,100",
    f"1007,42,{PERSON},7,{IL_INTRO_COURSE},Introduction to HMIS,Completed,2026-02-23,lots",
    "1008,42,too,few",
    "",
]
PERSONAL = ("il.user.one", "il-user-1@example.org", "Testy", "Persona", "someone.else", "Stranger")


def load_script() -> ModuleType:
    return load_script_module("import_talentlms")


@pytest.fixture
def trained(do: Do) -> Chicago:
    """IL-510 with a user whose training request is filed and whose Talent LMS id is linked."""
    w = chicago(do)
    il_training_request(do, w)
    do(
        LinkLmsAccount(
            coc=w.coc, user_ref=w.user, provider=LmsProvider.TALENT_LMS, lms_user_id="42"
        )
    )
    return w


@pytest.fixture
def export(tmp_path: Path) -> Path:
    path = tmp_path / "completions.csv"
    path.write_text("\n".join([HEADER, *ROWS]), encoding="utf-8")
    return path


def run_import(
    settings: Settings, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, dict[str, Any]]:
    """Run the script on the test store; (exit code, all output, the JSON summary or {})."""
    store = (
        ["--database-url", settings.database_url]
        if settings.database_url
        else ["--sqlite-path", str(settings.sqlite_path)]
    )
    code = load_script().main([*args, *store])
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    summary = orjson.loads(lines[-1]) if code != 2 else {}
    return code, captured.out + captured.err, summary


def fresh_completions(settings: Settings, w: Chicago) -> list[str]:
    """The user's completed courses as the store has them (not a process's cache)."""
    ledger = Ledger(settings)
    try:
        stored = ledger.repository.get(entity_id("user", w.coc, w.user))
    finally:
        ledger.close()
    assert isinstance(stored, EndUser)
    return [c.course_code for c in stored.facts(EndUser.CourseCompleted)]


def test_an_export_is_recorded_with_duplicates_unknowns_and_bad_rows_reported(
    settings: Settings, trained: Chicago, export: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, output, summary = run_import(settings, capsys, str(export), "--coc", trained.coc)

    assert code == 1
    assert summary == {
        "file": "completions.csv",
        "coc": "IL-510",
        "dry_run": False,
        "rows": 9,
        "recorded": 2,
        "duplicates": 1,
        "still_unmatched": 0,
        "unmatched": 2,
        "ignored": 0,
        "not_completed": 1,
        "invalid": 3,
        "seconds": summary["seconds"],
    }
    assert fresh_completions(settings, trained) == [IL_INTRO_COURSE, IL_PROJECT_COURSE]
    assert "line 5: unknown-user" in output
    assert "line 6: unknown-course" in output
    assert "line 8: completion date '2026-13-01' does not match ISO 8601" in output
    assert "line 9: score 'lots' is not a number" in output
    assert "line 10: 4 fields, the header has 12" in output
    assert not any(personal in output for personal in PERSONAL)
    ledger = Ledger(settings)
    try:
        held = unmatched(ledger, trained.coc)
    finally:
        ledger.close()
    assert [h["source_record_id"] for h in held] == ["talentlms:1003", "talentlms:1004"]


def test_importing_the_same_file_again_writes_nothing_new(
    settings: Settings, trained: Chicago, export: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_import(settings, capsys, str(export), "--coc", trained.coc)
    ledger = Ledger(settings)
    head = ledger.head()
    ledger.close()

    code, output, summary = run_import(settings, capsys, str(export), "--coc", trained.coc)

    assert code == 1  # the bad rows are still bad, the unknown users still unknown
    assert (summary["recorded"], summary["unmatched"]) == (0, 0)
    assert (summary["duplicates"], summary["still_unmatched"]) == (5, 2)
    ledger = Ledger(settings)
    try:
        assert ledger.head() == head
    finally:
        ledger.close()
    assert "line 5: held before, still unknown-user" in output


def test_a_dry_run_reports_what_would_happen_and_writes_nothing(
    settings: Settings,
    ledger: Ledger,
    trained: Chicago,
    export: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    head = ledger.head()

    code, _, summary = run_import(settings, capsys, str(export), "--coc", trained.coc, "--dry-run")

    assert code == 1
    assert summary["dry_run"] is True
    assert (summary["recorded"], summary["duplicates"], summary["unmatched"]) == (2, 1, 2)
    assert ledger.head() == head
    assert fresh_completions(settings, trained) == []


def test_a_clean_export_exits_0(
    settings: Settings, trained: Chicago, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "clean.csv"
    path.write_text(f"{HEADER}\n{ROWS[0]}\n", encoding="utf-8")

    code, _, summary = run_import(settings, capsys, str(path), "--coc", trained.coc)

    assert code == 0
    assert summary["recorded"] == 1


def test_an_export_without_its_own_id_dedupes_by_user_course_and_day(
    settings: Settings, trained: Chicago, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "no-id.csv"
    path.write_text(
        "user_id;course_id;course_code;completed_on\n"
        f"42;7;{IL_INTRO_COURSE};2026-02-20T09:00:00+00:00\n"
        f"42;7;{IL_INTRO_COURSE};2026-02-20T17:30:00+00:00\n",
        encoding="utf-8",
    )

    code, _, summary = run_import(settings, capsys, str(path), "--coc", trained.coc)

    assert code == 0
    assert (summary["recorded"], summary["duplicates"]) == (1, 1)


def test_a_byte_order_mark_and_a_date_format_are_understood(
    settings: Settings, trained: Chicago, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "excel.csv"
    text = f"User ID,Course ID,Course code,Completion date\n42,7,{IL_INTRO_COURSE},20/02/2026\n"
    path.write_bytes(codecs.BOM_UTF8 + text.encode())

    code, _, summary = run_import(
        settings, capsys, str(path), "--coc", trained.coc, "--date-format", "%d/%m/%Y"
    )

    assert code == 0
    assert summary["recorded"] == 1


def test_a_utf16_export_with_its_bom_is_read(
    settings: Settings, trained: Chicago, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "utf16.csv"
    text = (
        f"User ID\tCourse ID\tCourse code\tCompletion date\n42\t7\t{IL_INTRO_COURSE}\t2026-02-20\n"
    )
    path.write_bytes(text.encode("utf-16"))

    code, _, summary = run_import(settings, capsys, str(path), "--coc", trained.coc)

    assert code == 0
    assert summary["recorded"] == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"User ID,Course code\n42,X\n", "missing column(s) course_id, completion_date"),
        (b"User ID,Course ID,Completion date\n42,7,2026-02-20 caf\xe9\n", "not utf-8-sig text"),
        (b"User ID,Course ID,Completion date\n42,7,\x002026\n", "NUL characters (line 2)"),
        (b'User ID,Course ID,Completion date\n42,"7\n', "not readable as CSV"),
    ],
)
def test_an_unusable_file_exits_2_with_the_reason(
    settings: Settings,
    ledger: Ledger,
    trained: Chicago,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: bytes,
    message: str,
) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    head = ledger.head()

    code, output, _ = run_import(settings, capsys, str(path), "--coc", trained.coc)

    assert code == 2
    assert message in output
    assert ledger.head() == head


def test_a_named_encoding_reads_a_legacy_file(
    settings: Settings, trained: Chicago, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cp1252.csv"
    text = (
        "User ID,Course ID,Course code,Course name,Completion date\n"
        f"42,7,{IL_INTRO_COURSE},Intro caf\xe9,2026-02-20\n"
    )
    path.write_bytes(text.encode("cp1252"))

    code, _, summary = run_import(
        settings, capsys, str(path), "--coc", trained.coc, "--encoding", "cp1252"
    )

    assert code == 0
    assert summary["recorded"] == 1


def test_a_missing_file_an_unknown_coc_or_encoding_exit_2(
    settings: Settings, trained: Chicago, export: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_import(settings, capsys, str(export.parent / "nope.csv"), "--coc", "IL-510")[0] == 2
    code, output, _ = run_import(settings, capsys, str(export), "--coc", "ZZ-999")
    assert code == 2
    assert "not registered" in output
    code, output, _ = run_import(
        settings, capsys, str(export), "--coc", "IL-510", "--encoding", "klingon"
    )
    assert code == 2
    assert "unknown encoding" in output


def test_a_relative_file_is_read_from_the_callers_directory(
    settings: Settings, trained: Chicago, export: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, summary = run_import(
        settings, capsys, export.name, "--coc", trained.coc, "--base-dir", str(export.parent)
    )

    assert code == 1
    assert summary["recorded"] == 2
