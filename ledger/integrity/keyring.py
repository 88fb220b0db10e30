"""Which signing key is in force for which tree: the key events recorded in the ledger.

A checkpoint of a tree whose last leaf is at position ``p`` is signed by the key of the last
key event at a position <= ``p``: a rotation takes effect for the first tree that holds its
event, so every checkpoint names a key the tree itself records.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

from ledger.application import Ledger
from ledger.domain.signing_keys import SigningKeys


@dataclass(frozen=True)
class KeyRecord:
    """A key as the ledger records it."""

    key_id: str
    public_key: bytes
    position: int  # of the event that put it in force
    recorded_at: datetime
    previous_key_id: str | None
    reason: str | None

    @property
    def public_key_b64(self) -> str:
        return base64.b64encode(self.public_key).decode()


def recorded_keys(ledger: Ledger) -> list[KeyRecord]:
    """Every key ever put in force, oldest first (read from the store, not the cache)."""
    ring = ledger.load_stored(SigningKeys, SigningKeys.ring_id())
    if ring is None:
        return []
    positions = ledger.positions.of_entity(ring.id)
    return [
        KeyRecord(
            key_id=event.key_id,
            public_key=base64.b64decode(event.public_key),
            position=positions[event.originator_version],
            recorded_at=event.recorded_at,
            previous_key_id=getattr(event, "previous_key_id", None),
            reason=getattr(event, "reason", None),
        )
        for event in ring.key_events()
    ]


def in_force(keys: list[KeyRecord], last_position: int) -> KeyRecord | None:
    """The key that signs a tree whose last leaf is at ``last_position``."""
    found = None
    for key in keys:
        if key.position <= last_position:
            found = key
    return found
