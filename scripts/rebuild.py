"""Rebuild the read models side by side from the whole log, then switch atomically.

Usage: scripts/rebuild [--dry-run] [--what-if COC=VERSION ...] [--fresh] [--batch-size N]
                       [--workers N] [--database-url URL | --sqlite-path PATH]

The new generation is built from the event log while the current one keeps serving; the
build can be interrupted (Ctrl-C) and resumed by running the command again. When it has
caught up, the command prints who changed status, from what to what and under which clauses,
then makes the new generation current in one transaction (readers never see a half-built
one). Users are evaluated in ``--workers`` processes (one per core by default) once the
log is applied. ``--dry-run`` prints the same diff and discards the new generation instead.
``--what-if IL-510=2026.2`` evaluates a CoC's users under a pack version that is not (yet)
adopted: the rule-change preview; it implies ``--dry-run``.
Progress goes to stderr (a bar with rate and time left on a terminal). The last line of
stdout is a JSON summary. Exit codes: 0 done, 1 interrupted, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

import orjson
from tqdm import tqdm

from ledger.application import Ledger
from ledger.errors import LedgerError
from ledger.settings import Settings
from projections.readmodels import generations
from projections.readmodels.db import ReadModelDb
from projections.readmodels.diff import diff_generations
from projections.readmodels.follower import REBUILD_BATCH, Follower, Step

REBUILD, WHAT_IF = "rebuild", "what-if"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/rebuild", description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="show the diff, do not switch")
    parser.add_argument("--what-if", action="append", default=[], metavar="COC=VERSION")
    parser.add_argument("--fresh", action="store_true", help="do not resume an earlier build")
    parser.add_argument("--batch-size", type=int, default=REBUILD_BATCH)
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="processes evaluating users (default: one per core)",
    )
    parser.add_argument("--database-url")
    parser.add_argument("--sqlite-path", type=Path)
    args = parser.parse_args(argv)
    what_if = {}
    for item in args.what_if:
        coc, _, version = item.partition("=")
        if not coc or not version:
            parser.error(f"--what-if {item!r}: expected COC=VERSION, e.g. IL-510=2026.2")
        what_if[coc] = version
    args.what_if = what_if
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    return args


class ProgressBar:
    """A tqdm bar over log positions on a terminal; a line every few seconds otherwise."""

    def __init__(self, head: int, start: int) -> None:
        self.bar = tqdm(
            total=head,
            initial=start,
            unit="ev",
            unit_scale=True,
            file=sys.stderr,
            disable=not sys.stderr.isatty(),
            desc="rebuild",
        )
        self.last_line = 0.0

    def __call__(self, step: Step) -> None:
        self.bar.total = max(step.head, self.bar.total or 0)
        self.bar.update(step.position - self.bar.n)
        users = step.pending if step.pending >= 0 else step.ahead
        if users >= 0:
            self.bar.set_postfix_str(f"users to evaluate: {users}")
        if self.bar.disable and time.monotonic() - self.last_line >= 5:
            self.last_line = time.monotonic()
            print(
                f"rebuild: position {step.position} of {step.head}"
                + (f", {users} users to evaluate" if users >= 0 else ""),
                file=sys.stderr,
                flush=True,
            )

    def close(self) -> None:
        self.bar.close()


def candidate(db: ReadModelDb, ledger: Ledger, args: argparse.Namespace, note: str) -> int:
    """The generation to build: an interrupted plain rebuild is resumed, unless --fresh."""
    resumable = [g for g in generations.generations(db) if g.status == generations.BUILDING]
    for old in resumable:
        if args.fresh or old.note != REBUILD or note != REBUILD:
            generations.discard(db, old.number)
        else:
            print(
                f"rebuild: resuming generation {old.number} at position {db.position(old.number)}",
                file=sys.stderr,
            )
            return old.number
    return generations.begin(db, ledger.clock.now(), note)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    dry_run = args.dry_run or bool(args.what_if)
    try:
        ledger = Ledger(Settings.for_store(args.database_url, args.sqlite_path))
        db = ReadModelDb(ledger)
    except (LedgerError, ValueError) as err:
        print(f"rebuild: cannot open the store: {err}", file=sys.stderr)
        return 2
    note = (
        REBUILD
        if not args.what_if
        else f"{WHAT_IF} " + ",".join(f"{c}={v}" for c, v in sorted(args.what_if.items()))
    )
    old = generations.current(db)
    number = candidate(db, ledger, args, note)
    follower = Follower(
        ledger,
        db,
        number,
        ledger.clock,
        batch_size=args.batch_size,
        what_if=args.what_if,
        workers=args.workers,
    )
    bar = ProgressBar(ledger.head(), follower.position)
    stop = threading.Event()
    started = time.monotonic()
    try:
        step = follower.catch_up(progress=bar, stop=stop)
        step = follower.catch_up(progress=bar)  # what arrived meanwhile
    except KeyboardInterrupt:
        bar.close()
        print(
            f"rebuild: interrupted at position {follower.position}; run it again to resume",
            file=sys.stderr,
        )
        return 1
    except LedgerError as err:
        bar.close()
        print(f"rebuild: {err}", file=sys.stderr)
        return 2
    bar.close()
    diff = diff_generations(db, old, number)
    for change in diff.changes:
        print(change.line())
    if dry_run:
        generations.discard(db, number)
        action = "dry run: nothing switched"
    else:
        follower.catch_up()
        generations.switch(db, number, ledger.clock.now())
        action = f"switched to generation {number}"
    seconds = time.monotonic() - started
    print(
        f"{len(diff.changes)} users changed ({diff.summary()['status_changed']} overall); {action}"
    )
    print(
        orjson.dumps(
            {
                "generation": number,
                "previous": old,
                "dry_run": dry_run,
                "what_if": args.what_if,
                "position": step.position,
                "seconds": round(seconds, 3),
                **diff.summary(),
            }
        ).decode()
    )
    ledger.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
