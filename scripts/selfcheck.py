"""Re-verify the stored event log against the sealed tree and its signed checkpoints.

Usage: scripts/selfcheck [--database-url URL | --sqlite-path PATH]

Reads every stored event in log order and checks that each is the leaf sealed at its
position (an event changed, deleted, inserted or moved is named by position), that the tree
recomputed from the events gives every checkpoint's root, that the stored subtree hashes
proofs are read from are right, and that each checkpoint is signed by the key the log has in
force for it. Events the sealer has not reached yet are counted, not judged. The service runs
the same check every COC_LEDGER_SELFCHECK_INTERVAL_SECONDS. Prints the first mismatch (or
OK) on stderr and a JSON report as the last line of stdout.
Exit status: 0 verified, 1 a mismatch (named), 2 configuration error.
"""

from __future__ import annotations

import argparse
import sys

import orjson

from commands.operator import add_store_arguments, run_on_store
from ledger.application import Ledger
from ledger.integrity.service import Integrity
from ledger.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/selfcheck", description=__doc__.split("\n")[0])
    add_store_arguments(parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    return run_on_store("selfcheck", args, _check)


def _check(ledger: Ledger, settings: Settings) -> int:
    report = Integrity(ledger, settings).selfcheck()
    if report.first_mismatch is None:
        latest = report.latest_checkpoint
        print(
            f"selfcheck: OK: {report.events_checked} sealed events, "
            f"{report.checkpoints_checked} checkpoints"
            + (f" (latest: {latest.tree_size} leaves, key {latest.key_id})" if latest else "")
            + f", {report.unsealed} not sealed yet",
            file=sys.stderr,
        )
    else:
        print(f"selfcheck: MISMATCH: {report.first_mismatch.describe()}", file=sys.stderr)
    print(orjson.dumps(report.as_json()).decode())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
