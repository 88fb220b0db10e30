"""Issue, revoke and list API tokens (bearer tokens of the HTTP API).

Usage: scripts/token create --coc COC --role ROLE --subject NAME [--agency REF] [--days N]
       scripts/token revoke TOKEN_ID --reason TEXT
       scripts/token list [--coc COC] [--active]
       (each also takes [--actor NAME] [--database-url URL | --sqlite-path PATH])

Roles: admin, recorder, agency-recorder (with --agency), auditor, service (see README). The
subject is recorded as the actor of every event the token writes. ``create`` prints the
secret once, in the JSON object on the last line of stdout: the ledger keeps only its
SHA-256 and cannot show it again. Issue and revocation are events recorded with the
operator's name (``--actor``, default the login name). The service sees a revocation within
COC_LEDGER_TOKEN_CACHE_SECONDS (default 30). ``list`` prints one JSON object per token.
The store is the configured one unless --database-url or --sqlite-path names another; this
command may run beside a service on the same SQLite file (the service reads tokens afresh).
Exit status: 0 done, 1 refused (unknown token, already revoked), 2 usage or configuration.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from uuid import UUID, uuid4

import orjson

from commands.base import Caller
from commands.operator import add_store_arguments, login_name, run_on_store
from commands.tokens import (
    DEFAULT_DAYS,
    MAX_DAYS,
    TokenRequest,
    issue_token,
    list_tokens,
    revoke_token,
)
from ledger.application import Ledger
from ledger.domain.base import Source
from ledger.domain.organisations import Agency
from ledger.domain.tokens import Role
from ledger.ids import entity_id


def parse(argv: Sequence[str]) -> argparse.Namespace:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--actor", default=login_name(), help="who runs this (recorded)")
    add_store_arguments(common)

    parser = argparse.ArgumentParser(prog="scripts/token", description=__doc__.split("\n")[0])
    actions = parser.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", parents=[common], help="issue a token")
    create.add_argument("--coc", required=True, help="the CoC (tenant) it is for, e.g. MO-606")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--subject", required=True, help="who or what uses it")
    create.add_argument("--agency", metavar="REF", help="the agency (agency-recorder only)")
    create.add_argument(
        "--days", type=int, default=DEFAULT_DAYS, help=f"valid for N days (1-{MAX_DAYS})"
    )
    revoke = actions.add_parser("revoke", parents=[common], help="revoke a token")
    revoke.add_argument("token_id", type=UUID, help="the token's id (from create or list)")
    revoke.add_argument("--reason", required=True, help="why (recorded)")
    listing = actions.add_parser("list", parents=[common], help="list tokens (no secrets)")
    listing.add_argument("--coc", help="only this CoC's tokens")
    listing.add_argument("--active", action="store_true", help="only active tokens")
    return parser.parse_args(argv)


def _print(data: object) -> None:
    print(orjson.dumps(data).decode())


def _create(ledger: Ledger, args: argparse.Namespace, operator: Caller) -> int:
    request = TokenRequest(
        coc=args.coc, subject=args.subject, role=args.role, agency_ref=args.agency, days=args.days
    )
    issued = issue_token(ledger, request, operator)
    if ledger.tenant_process(request.coc) is None:
        print(f"note: {request.coc} is not registered yet (register-coc)", file=sys.stderr)
    agency = request.agency_ref
    if agency and ledger.load(Agency, entity_id(Agency.kind, request.coc, agency)) is None:
        print(f"note: agency {agency} is not registered in {request.coc} yet", file=sys.stderr)
    print(
        f"token {issued.info.token_id}: {issued.info.role} of {issued.info.coc} for "
        f"{issued.info.subject!r}, expires {issued.info.expires_at.isoformat()}. The secret "
        "below is shown only now: keep it in a secret store.",
        file=sys.stderr,
    )
    _print({"secret": issued.secret, **issued.info.model_dump(mode="json")})
    return 0


def _run(ledger: Ledger, args: argparse.Namespace) -> int:
    operator = Caller(actor=args.actor, source=Source.CLI, request_id=f"cli-{uuid4().hex}")
    if args.action == "create":
        return _create(ledger, args, operator)
    if args.action == "revoke":
        info = revoke_token(ledger, args.token_id, args.reason, operator)
        _print(info.model_dump(mode="json"))
        return 0
    for info in list_tokens(ledger, args.coc):
        if not args.active or info.state == "active":
            _print(info.model_dump(mode="json"))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    return run_on_store("token", args, lambda ledger, settings: _run(ledger, args))


if __name__ == "__main__":
    sys.exit(main())
