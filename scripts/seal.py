"""Seal the event log into the tamper-evident tree and sign checkpoints, in a process of its own.

Usage: scripts/seal [--once] [--database-url URL | --sqlite-path PATH]

The service does this in a thread (COC_LEDGER_INTEGRITY_IN_PROCESS, default on); for
PostgreSQL with several API processes, turn that off on them and run one of these beside
them, with the signing key file (COC_LEDGER_SIGNING_KEY_PATH). Every
COC_LEDGER_SEAL_INTERVAL_SECONDS it seals what was committed, in log order, and signs a
checkpoint when the tree grew and the latest is COC_LEDGER_CHECKPOINT_INTERVAL_SECONDS old.
``--once`` seals everything committed now, signs a checkpoint of it (if the key in force is
held) and prints the tree's state as JSON. Stops cleanly on Ctrl-C or SIGTERM; a batch of
leaves commits with the sealer's position, so a restart resumes where it stopped.
Exit status: 0 done, 2 configuration error.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

import orjson

from commands.operator import add_store_arguments, run_on_store
from ledger.application import Ledger
from ledger.errors import SigningUnavailable
from ledger.integrity import runner
from ledger.integrity.service import Integrity
from ledger.logging import configure_logging
from ledger.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/seal", description=__doc__.split("\n")[0])
    parser.add_argument("--once", action="store_true", help="seal and sign once, then exit")
    add_store_arguments(parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    return run_on_store("seal", args, lambda ledger, settings: _seal(ledger, settings, args.once))


def _seal(ledger: Ledger, settings: Settings, once: bool) -> int:
    configure_logging(settings)
    integrity = Integrity(ledger, settings)
    if once:
        integrity.seal()
        key = integrity.signing_key()
        if key is None:
            print("seal: sealed; no key file, so no checkpoint signed", file=sys.stderr)
        else:
            try:
                integrity.fresh_checkpoint(key)
            except SigningUnavailable as err:
                print(f"seal: sealed; no checkpoint signed: {err.message}", file=sys.stderr)
        print(orjson.dumps(integrity.status()).decode())
        return 0
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    runner.follow(integrity, stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
