"""Operator commands on the checkpoint signing key: put the first key in force, rotate it.

The private key lives in the file ``Settings.signing_key_path`` (mode 0600, never logged);
the ledger records only its public key and id. A rotation writes the new key beside the old
one (``<file>.next``), records it, then moves the old file aside (``<file>.retired-<id>``)
and the new one into place: interrupted anywhere, running it again finishes the same
rotation. Until the new key's event is sealed, the old key keeps signing.
"""

from __future__ import annotations

import os
from pathlib import Path

from eventsourcing.persistence import IntegrityError

from commands.base import Caller
from ledger.application import Ledger
from ledger.domain.base import EventMeta
from ledger.domain.signing_keys import OPERATOR, SigningKeys
from ledger.errors import ConcurrencyConflict, NotFound, RuleViolation
from ledger.integrity import keys
from ledger.integrity.keyring import KeyRecord, recorded_keys


def _meta(ledger: Ledger, operator: Caller) -> EventMeta:
    now = ledger.clock.now()
    return operator.meta(OPERATOR, now, now)


def _load_or_create(path: Path) -> keys.SigningKey:
    key = keys.load(path)
    if key is None:
        key = keys.generate()
        keys.write_new(key, path)
    return key


def _save(ledger: Ledger, ring: SigningKeys) -> None:
    try:
        with ledger.exclusive:
            ledger.save_all([ring])
    except IntegrityError as err:
        raise ConcurrencyConflict("the signing keys changed meanwhile; try again") from err


def init_key(ledger: Ledger, path: Path, operator: Caller) -> KeyRecord:
    """Put the key in ``path`` in force (made there first if the file does not exist). Run
    again with the same file, it changes nothing."""
    ring = ledger.load_stored(SigningKeys, SigningKeys.ring_id())
    if ring is not None:
        held = keys.load(path)
        if held is not None and held.key_id == ring.current.key_id:
            return recorded_keys(ledger)[-1]
        raise RuleViolation(
            "signing-key/init-once",
            f"key {ring.current.key_id} is already in force; use rotate for a new key",
        )
    key = _load_or_create(path)
    _save(ledger, SigningKeys.introduce(key.key_id, key.public_key_b64, _meta(ledger, operator)))
    return recorded_keys(ledger)[-1]


def rotate_key(ledger: Ledger, path: Path, reason: str, operator: Caller) -> KeyRecord:
    """Put a new key in force; the old file is kept as ``<file>.retired-<key id>``."""
    ring = ledger.load_stored(SigningKeys, SigningKeys.ring_id())
    if ring is None:
        raise NotFound("no signing key is in force yet; use init first")
    upcoming = path.with_name(path.name + ".next")
    key = _load_or_create(upcoming)
    old = ring.current.key_id
    if key.key_id != old:
        ring.rotate(key.key_id, key.public_key_b64, reason, _meta(ledger, operator))
        _save(ledger, ring)
    else:  # recorded by an interrupted run: only the files are left to move
        old = ring.key_events()[-2].key_id if len(ring.key_events()) > 1 else old
    if path.exists():
        os.replace(path, path.with_name(f"{path.name}.retired-{old}"))
    os.replace(upcoming, path)
    return recorded_keys(ledger)[-1]
