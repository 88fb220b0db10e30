"""Write a deterministic synthetic event log (commands/synthetic) into the configured store.

Usage: scripts/generate (--tier NAME | --events N) [--seed S] [--append] [--batch N]
                        [--database-url URL | --sqlite-path PATH]

The store is the one of the normal settings (COC_LEDGER_DATABASE_URL, else
COC_LEDGER_SQLITE_PATH) unless --database-url or --sqlite-path names another. A store that
already holds events is refused unless --append. Progress goes to stderr (a bar on a
terminal, a line every few seconds otherwise); the last line of stdout is one JSON object.
Exit status: 0 done, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence

import orjson
from eventsourcing.persistence import IntegrityError, PersistenceError
from pydantic import ValidationError
from tqdm import tqdm

from commands.operator import add_store_arguments
from commands.synthetic import TIERS, generate, plan
from ledger.application import Ledger
from ledger.errors import LedgerError
from ledger.settings import Settings

USAGE_ERROR = 2


class UsageError(Exception):
    """Bad arguments or configuration: exit status 2."""


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/generate", description="Write a deterministic synthetic event log."
    )
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--tier", choices=TIERS, help="a scale tier (see README)")
    size.add_argument("--events", type=int, metavar="N", help="about N events (four CoCs)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--append", action="store_true", help="write into a non-empty log")
    parser.add_argument("--batch", type=int, default=2_000, metavar="N", help="events per save")
    add_store_arguments(parser)
    args = parser.parse_args(argv)
    if args.events is not None and args.events < 1_000:
        parser.error("--events must be at least 1000")
    if args.batch < 1:
        parser.error("--batch must be at least 1")
    return args


def settings_for(args: argparse.Namespace) -> Settings:
    try:
        return Settings.for_store(args.database_url, args.sqlite_path)
    except ValidationError as err:
        raise UsageError(f"invalid settings: {err.errors(include_url=False)}") from err


def progress_reporter(interactive: bool) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """A progress callback (a tqdm bar on a terminal, else a line every 5 s) and its closer."""
    if interactive:
        bar = tqdm(total=0, unit="ev", unit_scale=True, file=sys.stderr, dynamic_ncols=True)

        def on_bar(done: int, expected: int) -> None:
            bar.total = max(expected, done)
            bar.update(done - bar.n)

        return on_bar, bar.close
    started = last = time.monotonic()

    def on_line(done: int, expected: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= 5:
            last = now
            rate = done / (now - started)
            print(
                f"generate: {done:,} of about {expected:,} events, {rate:,.0f}/s",
                file=sys.stderr,
                flush=True,
            )

    return on_line, lambda: None


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse(sys.argv[1:] if argv is None else argv)
    except SystemExit as exit_:  # argparse: --help exits 0, errors exit 2
        return int(exit_.code or 0)
    try:
        settings = settings_for(args)
        plan(args.tier, args.events, args.seed)  # refuse a bad size before touching the store
        ledger = Ledger(settings)
    except (UsageError, LedgerError) as err:
        print(f"generate: {err}", file=sys.stderr)
        return USAGE_ERROR
    except PersistenceError as err:
        print(f"generate: cannot open the store: {err}", file=sys.stderr)
        return USAGE_ERROR
    try:
        if ledger.head() and not args.append:
            print(
                f"generate: the log already holds {ledger.head():,} events; "
                "use an empty store or --append",
                file=sys.stderr,
            )
            return USAGE_ERROR
        report_progress, close = progress_reporter(sys.stderr.isatty())
        try:
            report = generate(
                ledger,
                tier=args.tier,
                events=args.events,
                seed=args.seed,
                progress=report_progress,
                batch_events=args.batch,
            )
        finally:
            close()
    except LedgerError as err:
        print(f"generate: {err}", file=sys.stderr)
        return USAGE_ERROR
    except IntegrityError as err:
        print(
            f"generate: the log already holds entities of seed {args.seed} ({err}); "
            "append with another --seed",
            file=sys.stderr,
        )
        return USAGE_ERROR
    finally:
        ledger.close()
    summary = {"backend": settings.backend, **report.as_dict()}
    sys.stdout.write(orjson.dumps(summary).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
