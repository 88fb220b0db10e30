"""API tokens: issued and revoked by an operator, kept only as the SHA-256 of their secret.

A token's secret is 256 random bits shown once, at issue. The ledger stores its SHA-256; the
token's entity id is derived from that hash, so whoever presents the secret finds the token
with one read. Issue and revocation are events (facts) like any other; the read models skip
them (see ``projections/readmodels/projector.py``), so no route serves them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import AwareDatetime

from ledger.domain.base import EventMeta, LedgerAggregate
from ledger.errors import InvalidInput, RuleViolation
from ledger.ids import entity_id

SECRET_PREFIX = "cocl_"  # noqa: S105 - a prefix that lets secret scanners spot a leaked token
_SECRET_BYTES = 32


class Role(StrEnum):
    """What a token may do within its CoC (see api/permissions.py for the routes)."""

    ADMIN = "admin"
    RECORDER = "recorder"
    AGENCY_RECORDER = "agency-recorder"
    AUDITOR = "auditor"
    SERVICE = "service"


def new_secret() -> str:
    """A fresh token secret: the prefix and 256 random bits, URL-safe base64."""
    return SECRET_PREFIX + secrets.token_urlsafe(_SECRET_BYTES)


def secret_digest(secret: str) -> str:
    """The SHA-256 (hex) of a secret: all the ledger ever stores of it."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def token_id(digest: str) -> UUID:
    """The entity id of the token whose secret has this digest."""
    return entity_id(ApiToken.kind, digest)


class ApiToken(LedgerAggregate):
    """A bearer token for the HTTP API, scoped to one CoC (the event's ``coc``) and a role."""

    kind: ClassVar[str] = "api-token"

    class Issued(LedgerAggregate.Created):
        subject: str
        role: Role
        agency_ref: str | None = None
        expires_at: AwareDatetime
        secret_sha256: str

    class Revoked(LedgerAggregate.Event):
        reason: str

    @classmethod
    def issue(
        cls,
        digest: str,
        subject: str,
        role: Role,
        agency_ref: str | None,
        expires_at: datetime,
        meta: EventMeta,
    ) -> ApiToken:
        if (role is Role.AGENCY_RECORDER) != (agency_ref is not None):
            raise InvalidInput(
                "an agency-recorder token names exactly one agency; other roles name none",
                field="agency_ref",
            )
        if expires_at <= meta.timestamp:
            raise InvalidInput("a token must expire in the future", field="expires_at")
        return cls._create(
            cls.Issued,
            id=token_id(digest),
            subject=subject,
            role=role,
            agency_ref=agency_ref,
            expires_at=expires_at,
            secret_sha256=digest,
            **meta.fields(),
        )

    @property
    def issued(self) -> ApiToken.Issued:
        issued = self.created
        assert isinstance(issued, ApiToken.Issued)
        return issued

    @property
    def revoked(self) -> ApiToken.Revoked | None:
        return self.last(ApiToken.Revoked)

    def matches(self, digest: str) -> bool:
        """Whether ``digest`` is this token's (compared in constant time)."""
        return hmac.compare_digest(self.issued.secret_sha256, digest)

    def revoke(self, reason: str, meta: EventMeta) -> None:
        if self.revoked is not None:
            raise RuleViolation("token/revoke-once", f"token {self.id} is already revoked")
        self.trigger_event(self.Revoked, reason=reason, **meta.fields())
