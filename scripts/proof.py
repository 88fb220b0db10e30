"""Proofs on the command line: inclusion of an event in a checkpoint, consistency of two.

Usage: scripts/proof inclusion --coc COC POSITION [--tree-size N] [--out FILE]
       scripts/proof consistency FIRST [SECOND] [--out FILE]
       (each also takes [--database-url URL | --sqlite-path PATH])

Prints (or writes to FILE) the same JSON document as the API: ``inclusion`` proves that the
event at POSITION, one of COC's, is in the checkpoint of N leaves (default: the latest);
``consistency`` proves that the checkpoint of FIRST leaves is a prefix of the one of SECOND
(default: the latest), i.e. nothing recorded before it changed. Checkpoint sizes are listed
by scripts/seal --once and GET /v1/integrity; ``latest`` names the newest. Either document
verifies offline with scripts/verify. The proof is read from the store's sealed tree; this
command signs nothing.
Exit status: 0 printed, 1 no such event or checkpoint, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import orjson

from commands.operator import add_store_arguments, run_on_store
from ledger.application import Ledger
from ledger.integrity.service import Integrity, parse_size
from ledger.settings import Settings


def parse(argv: Sequence[str]) -> argparse.Namespace:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--out", type=Path, metavar="FILE", help="write the document here")
    add_store_arguments(common)
    parser = argparse.ArgumentParser(prog="scripts/proof", description=__doc__.split("\n")[0])
    kinds = parser.add_subparsers(dest="kind", required=True)
    inclusion = kinds.add_parser("inclusion", parents=[common], help="an event in a checkpoint")
    inclusion.add_argument("position", type=int, help="the event's log position")
    inclusion.add_argument("--coc", required=True, help="the CoC the event belongs to")
    inclusion.add_argument("--tree-size", default="latest", help="the checkpoint (default latest)")
    consistency = kinds.add_parser("consistency", parents=[common], help="two checkpoints")
    consistency.add_argument("first", help="tree size of the older checkpoint")
    consistency.add_argument("second", nargs="?", default="latest", help="of the newer one")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    return run_on_store("proof", args, lambda ledger, settings: _prove(ledger, settings, args))


def _prove(ledger: Ledger, settings: Settings, args: argparse.Namespace) -> int:
    integrity = Integrity(ledger, settings)
    if args.kind == "inclusion":
        size = parse_size(args.tree_size, "tree-size")
        document = integrity.inclusion(args.coc, args.position, size)
    else:
        first, second = parse_size(args.first, "first"), parse_size(args.second, "second")
        document = integrity.consistency(first, second)
    text = orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"
    if args.out:
        args.out.write_bytes(text)
    else:
        sys.stdout.buffer.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
