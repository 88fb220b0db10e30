"""Who may call which route: one table keyed by route name; a route missing from it is denied.

Checks, in order (each answer is the same whichever CoC is named, so none reveals whether
another tenant exists):

1. the route is listed (else 403), and public routes need no token;
2. a valid bearer token (else 401, see api/auth.py);
3. the token's role is listed for the route (else 403);
4. a ``{coc}`` in the path, or a command's ``coc``, is the token's own CoC: any other CoC,
   existing or not, answers the same 404;
5. an agency recorder's command acts for the token's agency (else 403; api/agency_scope.py).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum

from aiohttp import web

from api.agency_scope import AGENCY_SIDE, acting_agencies
from api.problems import ApiProblem
from commands.base import Command
from commands.registry import COMMANDS
from ledger.application import Ledger
from ledger.domain.tokens import Role


class Scope(StrEnum):
    PUBLIC = "public"  # no token needed; serves no tenant's data
    GLOBAL = "global"  # any listed role; serves no tenant's data
    PATH = "path"  # tenant data: the path's {coc} must be the token's CoC
    BODY = "body"  # a command: its body's coc must be the token's CoC (checked once parsed)
    CALLER = "caller"  # tenant data of the token's own CoC, which the handler takes from the
    # token (principal_of(request).coc); a {coc} in the path is checked as for PATH


@dataclass(frozen=True)
class Rule:
    scope: Scope
    roles: frozenset[Role] = frozenset()


def command_route_name(command: str) -> str:
    """The route name of ``POST /v1/commands/{command}``."""
    return f"command_{command.replace('-', '_')}"


ALL_ROLES = frozenset(Role)
READ_ALL = frozenset({Role.ADMIN, Role.RECORDER, Role.AUDITOR})
AGENCY_READS = READ_ALL | {Role.AGENCY_RECORDER}
COMPLIANCE_READS = AGENCY_READS | {Role.SERVICE}
# Commands that shape the tenant itself: an admin's, not a recorder's.
ADMIN_ONLY_COMMANDS = frozenset({"register-coc", "adopt-policy"})
SERVICE_COMMANDS = frozenset({"record-course-completion"})  # an LMS posting a completion


def command_roles(command: str) -> frozenset[Role]:
    roles = {Role.ADMIN}
    if command not in ADMIN_ONLY_COMMANDS:
        roles.add(Role.RECORDER)
    if command in AGENCY_SIDE:
        roles.add(Role.AGENCY_RECORDER)
    if command in SERVICE_COMMANDS:
        roles.add(Role.SERVICE)
    return frozenset(roles)


PUBLIC = Rule(Scope.PUBLIC)
PERMISSIONS: dict[str, Rule] = {
    "healthz": PUBLIC,
    "readyz": PUBLIC,
    "metrics": PUBLIC,
    "openapi": PUBLIC,
    "docs": PUBLIC,
    "commands": Rule(Scope.GLOBAL, ALL_ROLES),  # the command catalogue
    "readmodels": Rule(Scope.GLOBAL, ALL_ROLES),  # generation, position, lag
    "history": Rule(Scope.PATH, READ_ALL),
    "history-by-id": Rule(Scope.PATH, READ_ALL),
    "audit_trail": Rule(Scope.PATH, READ_ALL),
    "statuses": Rule(Scope.PATH, READ_ALL),
    "compliance": Rule(Scope.PATH, COMPLIANCE_READS),
    "user": Rule(Scope.PATH, COMPLIANCE_READS),
    "users": Rule(Scope.PATH, COMPLIANCE_READS),
    "agencies": Rule(Scope.PATH, AGENCY_READS),
    "agency": Rule(Scope.PATH, AGENCY_READS),
    "region": Rule(Scope.PATH, AGENCY_READS),
    "calendar": Rule(Scope.PATH, AGENCY_READS),
    "events_feed": Rule(Scope.CALLER, READ_ALL),
    "events_stream": Rule(Scope.CALLER, READ_ALL),
    "lms_webhook": Rule(Scope.CALLER, frozenset({Role.ADMIN, Role.RECORDER, Role.SERVICE})),
    # tamper-evident history: the tree, checkpoints, keys and consistency proofs hold hashes
    # and public keys only; an event's proof and an export are of the token's own CoC
    "integrity": Rule(Scope.GLOBAL, READ_ALL),
    "integrity_keys": Rule(Scope.GLOBAL, READ_ALL),
    "integrity_checkpoint": Rule(Scope.GLOBAL, READ_ALL),
    "integrity_consistency": Rule(Scope.GLOBAL, READ_ALL),
    "integrity_inclusion": Rule(Scope.PATH, READ_ALL),
    "integrity_export": Rule(Scope.PATH, READ_ALL),
    # held completions name learners by their LMS login or e-mail: not for services
    "lms_unmatched": Rule(Scope.PATH, READ_ALL),
} | {command_route_name(name): Rule(Scope.BODY, command_roles(name)) for name in COMMANDS}


def forbidden(detail: str) -> ApiProblem:
    return ApiProblem(403, "forbidden", detail)


def not_visible() -> ApiProblem:
    """The answer for any CoC but the token's own, whether that CoC exists or not."""
    return ApiProblem(
        404,
        "not_found",
        "nothing here for this token: a token sees only the CoC it was issued for",
    )


def _where(request: web.Request) -> str:
    route = request.match_info.route.resource
    return f"{request.method} {route.canonical if route else request.path}"


def check_route(rule: Rule, role: Role, token_coc: str, request: web.Request) -> None:
    """Steps 3 and 4 for the route ``request`` matched."""
    if role not in rule.roles:
        raise forbidden(f"a {role} token may not use {_where(request)}")
    coc = request.match_info.get("coc")
    if coc is None and rule.scope is Scope.PATH:
        raise forbidden(f"{_where(request)} names no CoC to check the token against")
    if coc is not None and coc != token_coc:
        raise not_visible()


async def check_command(
    command: Command, role: Role, token_coc: str, token_agency: str | None, ledger: Ledger
) -> None:
    """Steps 4 and 5 for a parsed command."""
    if command.coc != token_coc:
        raise not_visible()
    if role is not Role.AGENCY_RECORDER:
        return
    acting = await asyncio.to_thread(acting_agencies, command, ledger)
    if acting is not None and token_agency not in acting:
        raise forbidden(
            f"an agency-recorder token acts only for agency {token_agency}; "
            f"this {command.name} command does not"
        )
