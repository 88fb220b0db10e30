"""The leaves of the tamper-evident tree: one per stored event, in log order (RFC 9162 hashes).

A leaf is the stored row of an event exactly as the store holds it, in one canonical,
length-prefixed encoding (all integers big-endian)::

    0x01                         format of the encoding
    int64  position              the event's log position (notification id)
    int64  originator_version
    uint16 length || bytes       the originator id as stored: 32 lowercase hex digits
    uint32 length || bytes       the topic, UTF-8
    uint32 length || bytes       the stored state, byte for byte

Every byte of the row is in it, so changing any byte of a stored event, or moving it to
another position, changes its leaf. Hashes follow RFC 9162 (and RFC 6962) section 2.1.1:
``leaf hash = SHA-256(0x00 || leaf)``, ``node hash = SHA-256(0x01 || left || right)``.
The SQLite recorder stores the id as that hex text; a PostgreSQL ``uuid`` is read as the same
text, so one event has the same leaf on both backends. ``scripts/verify.py`` carries its own
copy of this encoding (it must run without this package); a test keeps the two equal.
"""

from __future__ import annotations

import struct
from hashlib import sha256
from typing import NamedTuple

LEAF_FORMAT = 1
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
HASH_SIZE = 32
# the leaf prefix (0x00), the format byte and the fixed fields, packed at once
LEAF_HEAD = struct.Struct(">BBqqH")
LENGTH = struct.Struct(">I")


class StoredRow(NamedTuple):
    """One row of the stored events table, as stored."""

    position: int
    originator_id: str  # 32 lowercase hex digits (SQLite's text; PostgreSQL's uuid as hex)
    originator_version: int
    topic: str
    state: bytes


def leaf_bytes(row: StoredRow) -> bytes:
    """The canonical encoding of a stored row (see the module docstring)."""
    position, originator_id, version, topic, state = row
    oid = originator_id.encode("utf-8", "surrogatepass")
    text = topic.encode("utf-8", "surrogatepass")
    return b"".join(
        (
            LEAF_HEAD.pack(0, LEAF_FORMAT, position, version, len(oid))[1:],
            oid,
            LENGTH.pack(len(text)),
            text,
            LENGTH.pack(len(state)),
            state,
        )
    )


def leaf_hash(row: StoredRow) -> bytes:
    """SHA-256(0x00 || leaf bytes)."""
    position, originator_id, version, topic, state = row
    oid = originator_id.encode("utf-8", "surrogatepass")
    text = topic.encode("utf-8", "surrogatepass")
    digest = sha256(LEAF_HEAD.pack(0, LEAF_FORMAT, position, version, len(oid)) + oid)
    digest.update(LENGTH.pack(len(text)) + text + LENGTH.pack(len(state)))
    digest.update(state)
    return digest.digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return sha256(NODE_PREFIX + left + right).digest()


EMPTY_ROOT = sha256(b"").digest()  # the root of a tree of no leaves (RFC 9162)
