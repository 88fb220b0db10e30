"""Follow the event log into the read models in a process of its own.

Usage: scripts/project [--once] [--database-url URL | --sqlite-path PATH]

For a PostgreSQL deployment with several API processes: run one of these and start the API
processes with COC_LEDGER_READMODELS_IN_PROCESS=false. It follows whichever generation is
current (also after scripts/rebuild switches), and stops cleanly on Ctrl-C or SIGTERM: each
batch commits with its log position, so a restart resumes exactly where it stopped.
``--once`` catches up and exits (cron-style). Exit codes: 0 ok, 2 configuration error.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from ledger.application import Ledger
from ledger.errors import LedgerError
from ledger.logging import configure_logging
from ledger.settings import Settings
from projections.readmodels.db import ReadModelDb
from projections.readmodels.runner import CurrentGenerationRunner


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/project", description=__doc__.split("\n")[0])
    parser.add_argument("--once", action="store_true", help="catch up, then exit")
    parser.add_argument("--database-url")
    parser.add_argument("--sqlite-path", type=Path)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        settings = Settings.for_store(args.database_url, args.sqlite_path)
        configure_logging(settings)
        ledger = Ledger(settings)
        runner = CurrentGenerationRunner(ledger, ReadModelDb(ledger), ledger.clock)
    except (LedgerError, ValueError) as err:
        print(f"project: cannot open the store: {err}", file=sys.stderr)
        return 2
    if args.once:
        runner.step()
        ledger.close()
        return 0
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    runner.run(stop)
    ledger.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
