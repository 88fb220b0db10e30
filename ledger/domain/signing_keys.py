"""The operator's checkpoint signing keys, as facts: which public key is in force from when.

One entity (its id fixed, so two first keys collide in the store and one fails) whose events
put a key in force: ``Introduced`` the first, ``Rotated`` each next one. The private key
never enters the ledger. A key is in force for every checkpoint whose tree holds its event
and not the next key's (ledger/integrity/keyring.py); older checkpoints keep verifying with
the key that signed them. The events belong to no tenant: their ``coc`` is ``OPERATOR``.
"""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field

from ledger.domain.base import EventMeta, LedgerAggregate
from ledger.errors import RuleViolation
from ledger.ids import entity_id

OPERATOR = "*"  # the coc of events that belong to the operator, not to a tenant
KEY_ID_PATTERN = r"^[0-9a-f]{16}$"
PUBLIC_KEY_PATTERN = r"^[A-Za-z0-9+/]{43}=$"  # 32 bytes, base64


class SigningKeys(LedgerAggregate):
    """The key ring: every key that was ever in force, in order."""

    kind: ClassVar[str] = "signing-keys"

    class Introduced(LedgerAggregate.Created):
        key_id: str = Field(pattern=KEY_ID_PATTERN)
        public_key: str = Field(pattern=PUBLIC_KEY_PATTERN)
        algorithm: Literal["ed25519"] = "ed25519"

    class Rotated(LedgerAggregate.Event):
        key_id: str = Field(pattern=KEY_ID_PATTERN)
        public_key: str = Field(pattern=PUBLIC_KEY_PATTERN)
        algorithm: Literal["ed25519"] = "ed25519"
        previous_key_id: str
        reason: str = Field(min_length=3, max_length=2000)

    @staticmethod
    def ring_id() -> UUID:
        return entity_id(SigningKeys.kind, OPERATOR)

    @classmethod
    def introduce(cls, key_id: str, public_key: str, meta: EventMeta) -> SigningKeys:
        return cls._create(
            cls.Introduced,
            id=cls.ring_id(),
            key_id=key_id,
            public_key=public_key,
            **meta.fields(),
        )

    def key_events(self) -> list[SigningKeys.Introduced | SigningKeys.Rotated]:
        """The events that put a key in force, oldest first."""
        return [e for e in self.all_facts() if isinstance(e, self.Introduced | self.Rotated)]

    @property
    def current(self) -> SigningKeys.Introduced | SigningKeys.Rotated:
        return self.key_events()[-1]

    def rotate(self, key_id: str, public_key: str, reason: str, meta: EventMeta) -> None:
        if any(k.key_id == key_id for k in self.key_events()):
            raise RuleViolation(
                "signing-key/new-key", f"key {key_id} was in force before: rotate to a new key"
            )
        self.trigger_event(
            self.Rotated,
            key_id=key_id,
            public_key=public_key,
            previous_key_id=self.current.key_id,
            reason=reason,
            **meta.fields(),
        )
