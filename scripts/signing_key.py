"""Put the operator's checkpoint signing key in force, rotate it, list the keys.

Usage: scripts/signing-key init [--key-file PATH]
       scripts/signing-key rotate --reason TEXT [--key-file PATH]
       scripts/signing-key list
       (each also takes [--actor NAME] [--database-url URL | --sqlite-path PATH])

The private key is an Ed25519 key in a PEM file only the operator reads (mode 0600;
COC_LEDGER_SIGNING_KEY_PATH, default var/signing-key.pem, or --key-file). ``init`` makes it
there if the file does not exist (or takes the key already there) and records its public key
and id in the ledger; run again, it changes nothing. ``rotate`` makes a new key, records it,
moves the old file to ``<file>.retired-<key id>`` (archive or destroy it: checkpoints signed
with it stay verifiable with its public key, which the ledger keeps) and puts the new one in
its place; interrupted, running it again finishes the same rotation. ``list`` prints one JSON
object per key. The private key is never printed or logged.
Exit status: 0 done, 1 refused (already initialised, nothing to rotate), 2 usage or
configuration error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from uuid import uuid4

import orjson

from commands.base import Caller
from commands.operator import add_store_arguments, login_name, run_on_store
from commands.signing_keys import init_key, rotate_key
from ledger.application import Ledger
from ledger.domain.base import Source
from ledger.integrity import documents
from ledger.integrity.keyring import KeyRecord, recorded_keys
from ledger.settings import Settings


def parse(argv: Sequence[str]) -> argparse.Namespace:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--actor", default=login_name(), help="who runs this (recorded)")
    add_store_arguments(common)
    keyfile = argparse.ArgumentParser(add_help=False)
    keyfile.add_argument("--key-file", type=Path, metavar="PATH", help="the private key file")
    parser = argparse.ArgumentParser(prog="scripts/signing-key", description=__doc__.split("\n")[0])
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("init", parents=[common, keyfile], help="put the first key in force")
    rotate = actions.add_parser("rotate", parents=[common, keyfile], help="put a new key in force")
    rotate.add_argument("--reason", required=True, help="why (recorded)")
    actions.add_parser("list", parents=[common], help="every key ever in force")
    return parser.parse_args(argv)


def _print(key: KeyRecord) -> None:
    print(orjson.dumps(documents.key_json(key)).decode())


def _run(ledger: Ledger, settings: Settings, args: argparse.Namespace) -> int:
    operator = Caller(actor=args.actor, source=Source.CLI, request_id=f"cli-{uuid4().hex}")
    path = getattr(args, "key_file", None) or settings.signing_key_path
    if args.action == "list":
        for key in recorded_keys(ledger):
            _print(key)
        return 0
    if args.action == "init":
        key = init_key(ledger, path, operator)
        print(f"key {key.key_id} is in force; its private key is in {path}", file=sys.stderr)
    else:
        key = rotate_key(ledger, path, args.reason, operator)
        print(f"key {key.key_id} is in force from position {key.position}", file=sys.stderr)
    _print(key)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    return run_on_store("signing-key", args, lambda ledger, settings: _run(ledger, settings, args))


if __name__ == "__main__":
    sys.exit(main())
