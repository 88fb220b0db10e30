"""Operator commands on API tokens: issue (the secret is returned once), revoke, list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Literal
from uuid import UUID

from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter

from commands.base import Caller
from ledger.application import Ledger
from ledger.domain.base import EventMeta
from ledger.domain.tokens import ApiToken, Role, new_secret, secret_digest
from ledger.domain.vocabulary import CocCode, Reason, Ref
from ledger.errors import ConcurrencyConflict, NotFound

DEFAULT_DAYS = 90
MAX_DAYS = 730
_PAGE = 1000
_REASON: TypeAdapter[str] = TypeAdapter(Reason)

Subject = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[^\x00-\x1f\x7f]{1,200}$")
]
TokenState = Literal["active", "expired", "revoked"]


class TokenRequest(BaseModel):
    """What an operator asks for: who, which CoC, which role, for how long."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    coc: CocCode
    subject: Subject = Field(description="recorded as the actor of every event the token writes")
    role: Role
    agency_ref: Ref | None = Field(default=None, description="only for agency-recorder")
    days: int = Field(default=DEFAULT_DAYS, ge=1, le=MAX_DAYS)


class TokenInfo(BaseModel):
    """A token as operators see it (never its secret or hash)."""

    model_config = ConfigDict(frozen=True)

    token_id: UUID
    coc: str
    subject: str
    role: Role
    agency_ref: str | None
    issued_at: AwareDatetime
    issued_by: str
    expires_at: AwareDatetime
    revoked_at: AwareDatetime | None
    state: TokenState

    @classmethod
    def of(cls, token: ApiToken, now: datetime) -> TokenInfo:
        issued, revoked = token.issued, token.revoked
        state: TokenState = (
            "revoked" if revoked else "expired" if issued.expires_at <= now else "active"
        )
        return cls(
            token_id=token.id,
            coc=token.coc,
            subject=issued.subject,
            role=issued.role,
            agency_ref=issued.agency_ref,
            issued_at=issued.recorded_at,
            issued_by=issued.actor,
            expires_at=issued.expires_at,
            revoked_at=revoked.recorded_at if revoked else None,
            state=state,
        )


@dataclass(frozen=True)
class IssuedToken:
    """A new token and its secret, which exists nowhere else: show it once."""

    secret: str
    info: TokenInfo


def _meta(ledger: Ledger, coc: str, operator: Caller) -> EventMeta:
    now = ledger.clock.now()
    return operator.meta(coc, now, now)


def issue_token(ledger: Ledger, request: TokenRequest, operator: Caller) -> IssuedToken:
    """Record a new token; its CoC need not be registered yet (an admin registers it)."""
    secret = new_secret()
    meta = _meta(ledger, request.coc, operator)
    token = ApiToken.issue(
        secret_digest(secret),
        request.subject,
        request.role,
        request.agency_ref,
        meta.timestamp + timedelta(days=request.days),
        meta,
    )
    with ledger.exclusive:
        ledger.save_all([token])
    return IssuedToken(secret, TokenInfo.of(token, meta.timestamp))


def revoke_token(ledger: Ledger, token_id: UUID, reason: str, operator: Caller) -> TokenInfo:
    """Record the revocation of a token (refused if it is already revoked)."""
    reason = _REASON.validate_python(reason)
    token = ledger.load_stored(ApiToken, token_id)
    if token is None:
        raise NotFound(f"there is no token {token_id}", kind=ApiToken.kind)
    meta = _meta(ledger, token.coc, operator)
    token.revoke(reason, meta)
    try:
        with ledger.exclusive:
            ledger.save_all([token])
    except IntegrityError as err:
        raise ConcurrencyConflict(f"token {token_id} changed meanwhile; try again") from err
    return TokenInfo.of(token, meta.timestamp)


def list_tokens(ledger: Ledger, coc: str | None = None) -> list[TokenInfo]:
    """Every token ever issued (of one CoC, if given), in the order they were issued."""
    topic = get_topic(ApiToken.Issued)
    now = ledger.clock.now()
    found: list[TokenInfo] = []
    start = 1
    while True:
        page = ledger.recorder.select_notifications(start, _PAGE, topics=[topic])
        for notification in page:
            token = ledger.load_stored(ApiToken, UUID(str(notification.originator_id)))
            if token is not None and (coc is None or token.coc == coc):
                found.append(TokenInfo.of(token, now))
        if len(page) < _PAGE:
            return found
        start = page[-1].id + 1
