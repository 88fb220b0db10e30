"""Bearer tokens: who is calling (401 unless a valid token), and the permission middleware.

The service reads a token from the store the first time it is presented and then trusts
what it read for ``token_cache_seconds`` (default 30): a revocation takes effect within
that time; expiry is checked on every request. Tokens are read past the entity cache, so
tokens issued or revoked by ``scripts/token`` in another process are seen. Neither the
secret nor its hash is ever logged; the request log line names the token by its id.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from aiohttp import web
from aiohttp.typedefs import Handler

from api.keys import LEDGER, SETTINGS
from api.permissions import PERMISSIONS, Scope, check_route, forbidden
from api.problems import ApiProblem
from ledger.application import Ledger
from ledger.clock import Clock
from ledger.domain.tokens import ApiToken, Role, secret_digest, token_id

AUTHORIZATION = "Authorization"
REALM = 'Bearer realm="coc-ledger"'
MAX_CACHED_TOKENS = 10_000
_TOKEN68 = re.compile(r"^[A-Za-z0-9._~+/-]{1,512}=*$")


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller a valid token names."""

    token_id: UUID
    subject: str
    coc: str
    role: Role
    agency_ref: str | None
    expires_at: datetime
    # what the request log line says of the caller: the token's id and role, never its
    # secret or subject (made once, not for every request)
    log_fields: tuple[tuple[str, str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        fields = (("token_id", str(self.token_id)), ("role", str(self.role)))
        object.__setattr__(self, "log_fields", fields)


@dataclass(frozen=True, slots=True)
class _Read:
    principal: Principal
    revoked: bool
    at: float  # monotonic time of the store read


def _unauthenticated(detail: str) -> ApiProblem:
    return ApiProblem(401, "unauthenticated", detail, headers={"WWW-Authenticate": REALM})


def _invalid(detail: str) -> ApiProblem:
    return ApiProblem(
        401,
        "invalid_token",
        detail,
        headers={"WWW-Authenticate": f'{REALM}, error="invalid_token"'},
    )


def _read(ledger: Ledger, digest: str) -> tuple[Principal, bool] | None:
    token = ledger.load_stored(ApiToken, token_id(digest))
    if token is None or not token.matches(digest):
        return None
    issued = token.issued
    principal = Principal(
        token_id=token.id,
        subject=issued.subject,
        coc=token.coc,
        role=issued.role,
        agency_ref=issued.agency_ref,
        expires_at=issued.expires_at,
    )
    return principal, token.revoked is not None


class Authenticator:
    """Turns an ``Authorization`` header into a :class:`Principal`, or a 401 problem."""

    def __init__(
        self,
        ledger: Ledger,
        ttl_seconds: float,
        *,
        clock: Clock | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ledger = ledger
        self.ttl = ttl_seconds
        self.clock = clock or ledger.clock
        self.monotonic = monotonic
        self._known: OrderedDict[str, _Read] = OrderedDict()

    async def principal(self, header: str | None) -> Principal:
        if not header:
            raise _unauthenticated("send a token: Authorization: Bearer <token>")
        scheme, _, credentials = header.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise _unauthenticated("use the Bearer scheme: Authorization: Bearer <token>")
        credentials = credentials.strip()
        if not _TOKEN68.match(credentials):
            raise _invalid("the bearer token is malformed")
        digest = secret_digest(credentials)
        read = self._known_read(digest) or await self._read_store(digest)
        if read is None:
            raise _invalid("the bearer token is not known")
        if read.revoked:
            raise _invalid("the bearer token was revoked")
        if read.principal.expires_at <= self.clock.now():
            raise _invalid(f"the bearer token expired at {read.principal.expires_at.isoformat()}")
        return read.principal

    def _known_read(self, digest: str) -> _Read | None:
        """What was read of the token within the last ``ttl`` seconds, if anything."""
        known = self._known.get(digest)
        if known is not None and self.monotonic() - known.at < self.ttl:
            return known
        return None

    async def _read_store(self, digest: str) -> _Read | None:
        now = self.monotonic()
        found = await asyncio.to_thread(_read, self.ledger, digest)
        if found is None:  # unknown tokens are not kept: a new token works at once
            self._known.pop(digest, None)
            return None
        read = _Read(found[0], found[1], now)
        self._known.pop(digest, None)
        self._known[digest] = read
        while len(self._known) > MAX_CACHED_TOKENS:
            self._known.popitem(last=False)
        return read


AUTHENTICATOR = web.AppKey("authenticator", Authenticator)
PRINCIPAL = web.RequestKey("principal", Principal)


def principal_of(request: web.Request) -> Principal:
    """The authenticated caller of a route that needs a token."""
    principal: Principal | None = request.get(PRINCIPAL)
    if principal is None:  # a route served without the middleware's check: deny
        raise forbidden("this route needs a token")
    return principal


async def authenticator_context(app: web.Application) -> AsyncIterator[None]:
    """A cleanup context that builds the authenticator once the ledger exists."""
    app[AUTHENTICATOR] = Authenticator(app[LEDGER], app[SETTINGS].token_cache_seconds)
    yield


@web.middleware
async def authorise(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Deny by default: only routes in the permission table, each for its roles and CoC."""
    match = request.match_info
    if match.http_exception is not None:  # no route matched: the handler raises 404 / 405
        return await handler(request)
    rule = PERMISSIONS.get(match.route.name or "")
    if rule is None:
        raise forbidden("this route is open to no one (it is not in the permission table)")
    if rule.scope is Scope.PUBLIC:
        return await handler(request)
    principal = await request.app[AUTHENTICATOR].principal(request.headers.get(AUTHORIZATION))
    request[PRINCIPAL] = principal
    check_route(rule, principal.role, principal.coc, request)
    return await handler(request)
