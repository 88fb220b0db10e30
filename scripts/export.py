"""Export a CoC's, an agency's or a user's history as one bundle an auditor verifies offline.

Usage: scripts/export coc COC --out FILE
       scripts/export agency COC REF --out FILE
       scripts/export user COC REF --out FILE
       (each also takes [--database-url URL | --sqlite-path PATH])

Seals everything committed now, signs a checkpoint of it with the operator's key
(COC_LEDGER_SIGNING_KEY_PATH; it must be the key in force) and writes the bundle: every event
of the history as stored, the proof tying each to the checkpoint, the checkpoint, the signing
keys with the events that put them in force, and an export statement, signed, that lists
every position the bundle holds. ``scripts/verify FILE`` checks it with no database and no
server. The same bundle is served at GET /v1/cocs/{coc}/integrity/export/{kind}/{ref}.
Exit status: 0 written, 1 nothing to export (no such CoC, agency or user), 2 usage,
configuration, or no signing key held.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import orjson

from commands.operator import USAGE_ERROR, add_store_arguments, run_on_store
from ledger.application import Ledger
from ledger.integrity.selection import COC_REF, Subject
from ledger.integrity.service import Integrity
from ledger.settings import Settings


def parse(argv: Sequence[str]) -> argparse.Namespace:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--out", type=Path, required=True, metavar="FILE", help="the bundle")
    add_store_arguments(common)
    parser = argparse.ArgumentParser(prog="scripts/export", description=__doc__.split("\n")[0])
    kinds = parser.add_subparsers(dest="kind", required=True)
    kinds.add_parser("coc", parents=[common], help="a whole CoC").add_argument("coc")
    for kind in ("agency", "user"):
        sub = kinds.add_parser(kind, parents=[common], help=f"one {kind} of a CoC")
        sub.add_argument("coc")
        sub.add_argument("ref")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    return run_on_store("export", args, lambda ledger, settings: _export(ledger, settings, args))


def _export(ledger: Ledger, settings: Settings, args: argparse.Namespace) -> int:
    subject = Subject(args.kind, args.coc, getattr(args, "ref", COC_REF))
    bundle = Integrity(ledger, settings).export(subject)
    try:
        args.out.write_bytes(orjson.dumps(bundle))
    except OSError as err:
        print(f"export: cannot write {args.out}: {err.strerror}", file=sys.stderr)
        return USAGE_ERROR
    checkpoint = bundle["checkpoint"]
    print(
        f"export: {len(bundle['events'])} events of {subject.describe()} under the checkpoint "
        f"of {checkpoint['tree_size']} leaves (key {checkpoint['key_id']}) in {args.out}",
        file=sys.stderr,
    )
    summary = {
        "out": str(args.out),
        "events": len(bundle["events"]),
        "tree_size": checkpoint["tree_size"],
        "key_id": checkpoint["key_id"],
        "events_after_checkpoint": bundle["events_after_checkpoint"],
    }
    print(orjson.dumps(summary).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
