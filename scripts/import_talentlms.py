"""Import a Talent LMS course-completion export (CSV) into a CoC: each completion once.

Usage: scripts/import_talentlms FILE.csv --coc CODE [--dry-run] [--encoding ENC]
                                [--date-format FMT] [--actor NAME]
                                [--database-url URL | --sqlite-path PATH]

Columns (header names without regard to case, spaces or dashes; the first of each list that
is present is used): user id (``user_id``, ``userid``), course id (``course_id``) and
completion date (``completion_date``, ``completed_on``, ``completed_at``) are required;
optional are the export's own id (``id``, ``completion_id``), ``login`` (``username``),
``email``, ``course_code`` (``code``), ``course_name`` (``course``, ``course_title``),
``completion_status`` (``status``: rows not "completed" are skipped), ``score`` and
``certificate`` (``certificate_id``). Other columns (names, for instance) are not read.

A row's source id is the export's own id when the file has one, else user id, course id
and completion day; a row seen before (in the ledger or earlier in the file) is a duplicate
and writes nothing, so importing the same file again writes nothing new. Learners are
matched through accounts linked with ``link-lms-account`` (provider ``talentlms``); rows of
unknown learners or courses are held unmatched (``GET /v1/cocs/{coc}/lms/unmatched``).

The report names rows by their line in the file and prints no learner's login, e-mail or
name. Progress goes to stderr. The last line of stdout is a JSON summary. Exit codes:
0 every row recorded (or a duplicate, or not completed), 1 some rows unmatched or invalid,
2 unusable input (file, encoding, columns, store or CoC).
"""

from __future__ import annotations

import argparse
import codecs
import csv
import getpass
import io
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import orjson
from pydantic import ValidationError
from tqdm import tqdm

from commands.base import Caller
from commands.lms import DryRun, Ingested, LmsCompletionIn, ingest
from ledger.application import Ledger, StoreUnavailable
from ledger.domain.base import Source
from ledger.domain.lms import LmsProvider, Outcome
from ledger.errors import LedgerError
from ledger.settings import Settings

EXIT_OK, EXIT_ROWS, EXIT_UNUSABLE = 0, 1, 2
COLUMNS: dict[str, tuple[str, ...]] = {
    "user_id": ("user_id", "userid"),
    "course_id": ("course_id", "courseid"),
    "completion_date": ("completion_date", "completed_on", "completed_at", "date_completed"),
    "id": ("id", "completion_id"),
    "login": ("login", "username", "user_name"),
    "email": ("email", "e_mail", "email_address"),
    "course_code": ("course_code", "code"),
    "course_name": ("course_name", "course", "course_title"),
    "status": ("completion_status", "status"),
    "score": ("score",),
    "certificate": ("certificate", "certificate_id"),
}
REQUIRED = ("user_id", "course_id", "completion_date")
COMPLETED = frozenset({"completed", "complete", "passed"})
KINDS = (
    "recorded",
    "duplicates",
    "still_unmatched",  # duplicates of completions held unmatched since an earlier import
    "unmatched",
    "ignored",
    "not_completed",
    "invalid",
)


class Unusable(Exception):
    """The input cannot be imported at all (exit 2)."""


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/import_talentlms", description=__doc__.split("\n")[0]
    )
    parser.add_argument("file", type=Path, help="the Talent LMS export (CSV)")
    parser.add_argument("--coc", required=True, help="the CoC the completions belong to")
    parser.add_argument("--dry-run", action="store_true", help="report only; write nothing")
    parser.add_argument("--encoding", help="the file's encoding (default: UTF-8, or by its BOM)")
    parser.add_argument("--date-format", help="strptime format of non-ISO dates, e.g. %%d/%%m/%%Y")
    parser.add_argument("--actor", help="who runs the import (default: the OS user)")
    parser.add_argument("--database-url")
    parser.add_argument("--sqlite-path", type=Path)
    parser.add_argument("--base-dir", type=Path, default=Path(), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# --- reading the file --------------------------------------------------------------------------


def decode(data: bytes, encoding: str | None) -> str:
    """The file's text: the given encoding, else UTF-8 (a UTF-8 or UTF-16 BOM is honoured)."""
    if encoding is None:
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            encoding = "utf-16"
        else:
            encoding = "utf-8-sig"
    try:
        text = data.decode(encoding)
    except LookupError:
        raise Unusable(f"unknown encoding {encoding!r}") from None
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise Unusable(
            f"the file is not {encoding} text (byte {err.start}, line {line}); export it as "
            "UTF-8 or name its encoding with --encoding (e.g. cp1252)"
        ) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise Unusable(
            f"the file holds NUL characters (line {line}), as UTF-16 text without a byte "
            "order mark does; name its encoding with --encoding (e.g. utf-16-le)"
        )
    return text


def _normal(name: str) -> str:
    return "_".join(name.strip().strip('"').casefold().replace("-", " ").split())


def columns_of(header: list[str]) -> dict[str, int]:
    """Field -> column index; refuse a header without the required columns."""
    found = {_normal(name): index for index, name in reversed(list(enumerate(header)))}
    chosen: dict[str, int] = {}
    for column, aliases in COLUMNS.items():
        index = next((found[a] for a in aliases if a in found), None)
        if index is not None:
            chosen[column] = index
    missing = [c for c in REQUIRED if c not in chosen]
    if missing:
        raise Unusable(
            f"missing column(s) {', '.join(missing)}; the header has "
            f"{', '.join(repr(h) for h in header) or 'no columns'}"
        )
    return chosen


def delimiter_of(header_line: str) -> str:
    """The delimiter the header uses most: comma, semicolon or tab."""
    return max(",;\t", key=header_line.count)


def read_rows(text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the data rows, each with its line number in the file."""
    first_line = text.split("\n", 1)[0]
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=delimiter_of(first_line), strict=True
    )
    rows: list[tuple[int, list[str]]] = []
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise Unusable("the file is empty: no header line")
        line = reader.line_num
        for row in reader:
            rows.append((line + 1, row))
            line = reader.line_num
    except csv.Error as err:
        raise Unusable(f"line {reader.line_num}: not readable as CSV: {err}") from None
    return header, rows


# --- one row -----------------------------------------------------------------------------------


class RowProblem(Exception):
    """A row that cannot be imported; the message names the problem, not personal data."""


def completion_date(raw: str, date_format: str | None) -> datetime:
    if not raw:
        raise RowProblem("the completion date is empty")
    try:
        moment = datetime.strptime(raw, date_format) if date_format else datetime.fromisoformat(raw)
    except ValueError:
        expected = f"the format {date_format!r}" if date_format else "ISO 8601 (YYYY-MM-DD)"
        hint = "" if date_format else "; name the export's format with --date-format"
        raise RowProblem(f"completion date {raw!r} does not match {expected}{hint}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def score_of(raw: str) -> float | None:
    if not raw:
        return None
    try:
        return float(raw.removesuffix("%").strip())
    except ValueError:
        raise RowProblem(f"score {raw!r} is not a number") from None


def completion_of(
    coc: str, cells: dict[str, str], date_format: str | None
) -> LmsCompletionIn | None:
    """The completion a row holds, None for a row that is not a completion (yet)."""
    status = cells.get("status", "")
    if status and status.casefold() not in COMPLETED:
        return None
    for column in ("user_id", "course_id"):
        if not cells[column]:
            raise RowProblem(f"{column} is empty")
    completed = completion_date(cells["completion_date"], date_format)
    source_id = cells.get("id") or (
        f"{cells['user_id']}:{cells['course_id']}:{completed.astimezone(UTC).date().isoformat()}"
    )
    try:
        return LmsCompletionIn(
            coc=coc,
            effective_at=completed,
            provider=LmsProvider.TALENT_LMS,
            source_id=source_id,
            lms_user_id=cells["user_id"],
            lms_login=cells.get("login") or None,
            lms_email=cells.get("email") or None,
            lms_course_id=cells["course_id"],
            course_code=cells.get("course_code") or None,
            course_title=cells.get("course_name") or None,
            certificate_id=cells.get("certificate") or None,
            score=score_of(cells.get("score", "")),
            result=status or None,
        )
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'row'}: {e['msg']}"
            for e in err.errors(include_input=False, include_url=False)
        )
        raise RowProblem(problems) from None


# --- the run -----------------------------------------------------------------------------------


@dataclass
class Report:
    rows: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    notes: dict[str, list[str]] = field(
        default_factory=lambda: {"unmatched": [], "still_unmatched": [], "invalid": []}
    )

    def add(self, kind: str, line: int | None = None, note: str | None = None) -> None:
        self.counts[kind] += 1
        if note is not None:
            self.notes[kind].append(f"  line {line}: {note}")

    def exit_code(self) -> int:
        failed = ("unmatched", "still_unmatched", "invalid")
        return EXIT_ROWS if any(self.counts[k] for k in failed) else EXIT_OK

    def summary(self) -> dict[str, int]:
        return {"rows": self.rows} | {k: self.counts[k] for k in KINDS}


def tally(report: Report, line: int, result: Ingested) -> None:
    if result.duplicate:
        report.add("duplicates")
        if result.outcome is Outcome.UNMATCHED:
            report.add("still_unmatched", line, f"held before, still {result.reason}")
    elif result.outcome is Outcome.UNMATCHED:
        report.add("unmatched", line, f"{result.reason}: {result.detail}")
    else:
        report.add(result.outcome.value)


class Progress:
    """A tqdm bar on a terminal; a line every 5 s otherwise."""

    def __init__(self, total: int) -> None:
        self.bar = tqdm(
            total=total, unit="row", file=sys.stderr, disable=not sys.stderr.isatty(), desc="import"
        )
        self.last_line = time.monotonic()

    def step(self, done: int) -> None:
        self.bar.update(1)
        if self.bar.disable and time.monotonic() - self.last_line >= 5:
            self.last_line = time.monotonic()
            print(f"import: {done} of {self.bar.total} rows", file=sys.stderr, flush=True)

    def close(self) -> None:
        self.bar.close()


def import_rows(
    ledger: Ledger, args: argparse.Namespace, rows: list[tuple[int, list[str]]], header: list[str]
) -> Report:
    columns = columns_of(header)
    actor = args.actor or _os_user()
    caller = Caller(actor=actor, source=Source.IMPORT, request_id=f"import-{uuid4().hex}")
    report = Report(rows=len(rows))
    dry_run = DryRun(ledger, caller)  # a dry run's rows see the rows before them
    progress = Progress(len(rows))
    try:
        for done, (line, row) in enumerate(rows, 1):
            progress.step(done)
            if not any(cell.strip() for cell in row):
                report.rows -= 1  # a blank line
                continue
            if len(row) != len(header):
                report.add("invalid", line, f"{len(row)} fields, the header has {len(header)}")
                continue
            cells = {name: row[index].strip() for name, index in columns.items()}
            try:
                completion = completion_of(args.coc, cells, args.date_format)
                if completion is None:
                    report.add("not_completed")
                    continue
                if args.dry_run:
                    tally(report, line, dry_run(completion))
                else:
                    tally(report, line, ingest(ledger, completion, caller))
            except RowProblem as err:
                report.add("invalid", line, str(err))
            except StoreUnavailable:
                raise
            except LedgerError as err:
                report.add("invalid", line, err.message)
    finally:
        progress.close()
    return report


def _os_user() -> str:
    try:
        return f"operator:{getpass.getuser()}"
    except (KeyError, OSError):
        return "operator"


def print_report(args: argparse.Namespace, report: Report, seconds: float) -> None:
    summary = report.summary()
    what = "dry run of the import" if args.dry_run else "import"
    print(f"{what} of {args.file.name} into {args.coc}: {summary['rows']} rows")
    for kind in KINDS:
        print(f"  {kind.replace('_', ' ')}: {summary[kind]}")
    for kind, notes in report.notes.items():
        if notes:
            print(f"{kind.replace('_', ' ')} rows:")
            print("\n".join(notes))
    if (report.counts["unmatched"] or report.counts["still_unmatched"]) and not args.dry_run:
        print(
            f"unmatched rows are kept: GET /v1/cocs/{args.coc}/lms/unmatched lists them; "
            "link-lms-account or link-lms-course records them"
        )
    print(
        orjson.dumps(
            {"file": args.file.name, "coc": args.coc, "dry_run": args.dry_run}
            | summary
            | {"seconds": round(seconds, 3)}
        ).decode()
    )


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    started = time.monotonic()
    path = args.file if args.file.is_absolute() else args.base_dir / args.file
    try:
        try:
            data = path.read_bytes()
        except OSError as err:
            raise Unusable(f"cannot read {args.file}: {err.strerror}") from None
        header, rows = read_rows(decode(data, args.encoding))
        columns_of(header)
        try:
            ledger = Ledger(Settings.for_store(args.database_url, args.sqlite_path))
        except (LedgerError, ValueError, OSError) as err:
            raise Unusable(f"cannot open the store: {err}") from None
        try:
            if ledger.tenant_process(args.coc) is None:
                raise Unusable(f"coc {args.coc!r} is not registered in this store")
            report = import_rows(ledger, args, rows, header)
        except StoreUnavailable:
            raise Unusable(
                "the store became unavailable; run the import again (rows already recorded "
                "are recognised as duplicates)"
            ) from None
        finally:
            ledger.close()
    except Unusable as err:
        print(f"import_talentlms: {err}", file=sys.stderr)
        return EXIT_UNUSABLE
    print_report(args, report, time.monotonic() - started)
    return report.exit_code()


if __name__ == "__main__":
    sys.exit(main())
