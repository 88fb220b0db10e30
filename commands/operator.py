"""What the operator's scripts (``scripts/token``, ``signing-key``, ``export``, ``proof``)
share: who runs them, and one way to open the store, run an action and turn errors into
exit codes."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from pathlib import Path

from eventsourcing.persistence import PersistenceError
from pydantic import ValidationError

from ledger.application import Ledger
from ledger.errors import InvalidInput, LedgerError, NotFound, RuleViolation
from ledger.settings import Settings

DONE, REFUSED, USAGE_ERROR = 0, 1, 2


def login_name() -> str:
    """The operator's login name (recorded as the actor unless ``--actor`` says otherwise)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "operator"


def problems(err: ValidationError) -> str:
    """A validation error's messages, without the input values (they may be secrets)."""
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}"
        for e in err.errors(include_input=False)
    )


def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    """``--database-url`` or ``--sqlite-path`` (one at most): the store a script works on."""
    store = parser.add_mutually_exclusive_group()
    store.add_argument("--database-url", metavar="URL", help="postgresql://... (else settings)")
    store.add_argument("--sqlite-path", type=Path, metavar="PATH", help="an SQLite file")


def run_on_store(
    name: str, args: argparse.Namespace, action: Callable[[Ledger, Settings], int]
) -> int:
    """Open the store named by ``args.database_url`` / ``args.sqlite_path`` (else the
    settings), run ``action`` and close it. Exit codes: the action's; 1 when the ledger
    refused (not found, a rule); 2 for unusable input, configuration or store."""
    try:
        settings = Settings.for_store(args.database_url, args.sqlite_path)
        ledger = Ledger(settings)
    except ValidationError as err:
        print(f"{name}: invalid configuration: {problems(err)}", file=sys.stderr)
        return USAGE_ERROR
    except (InvalidInput, PersistenceError, OSError) as err:
        print(f"{name}: cannot open the store: {err}", file=sys.stderr)
        return USAGE_ERROR
    try:
        return action(ledger, settings)
    except ValidationError as err:
        print(f"{name}: {problems(err)}", file=sys.stderr)
        return USAGE_ERROR
    except (NotFound, RuleViolation) as err:
        print(f"{name}: {err.message}", file=sys.stderr)
        return REFUSED
    except LedgerError as err:
        print(f"{name}: {err.message}", file=sys.stderr)
        return USAGE_ERROR
    except OSError as err:  # e.g. a key file that cannot be read or written
        print(f"{name}: {err}", file=sys.stderr)
        return USAGE_ERROR
    finally:
        ledger.close()
