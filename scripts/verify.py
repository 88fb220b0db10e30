#!/usr/bin/env python3
"""Verify a CoC Ledger document offline: an export bundle, an inclusion or a consistency proof.

Usage: python3 verify.py [--trust KEY_ID]... FILE        (or scripts/verify in a checkout)

This file stands alone: it needs Python 3.11+ and the ``cryptography`` package (for Ed25519)
and nothing of CoC Ledger, no database and no network. Copy it anywhere.

What it checks, for an export bundle (``coc-ledger-bundle v1``):

1. the checkpoint (tree size, root hash, time) is signed by the key it names, whose id is the
   start of the SHA-256 of its public key; with ``--trust``, that key must be one you trust;
2. the export statement is signed by the same key, names the same tree and root, and lists
   every position the export holds: an event added to or removed from the file is named;
3. every event, rebuilt byte for byte from the file (RFC 9162 leaf of its stored row), leads
   through its inclusion proof to the checkpoint's root;
4. every entity's versions run 1, 2, 3, ... without a gap;
5. each key is stated by its own event in the bundle, and the checkpoint's key is the one the
   log has in force for the checkpoint's tree.

Fields shown beside the signed texts for readers (a checkpoint's tree size, root and time, the
subject, a key's time and previous key) must agree with what is signed or proven; only
``leaf_encoding`` and ``events_after_checkpoint`` are notes, not evidence.

Inclusion proofs (``coc-ledger-inclusion v1``) are checked as 1 and 3 for their one event;
consistency proofs (``coc-ledger-consistency v1``) check both checkpoints' signatures and the
RFC 9162 proof that the older tree is a prefix of the newer one (nothing in it changed).

Exit status: 0 verified; 1 not verified (the first failing event or position, and why);
2 unusable input (not a file, not JSON, not one of these documents).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import struct
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
except ImportError:  # pragma: no cover - depends on the auditor's machine
    print("verify: needs the 'cryptography' package: pip install cryptography", file=sys.stderr)
    sys.exit(2)

VERIFIED, NOT_VERIFIED, UNUSABLE = 0, 1, 2
BUNDLE = "coc-ledger-bundle v1"
INCLUSION = "coc-ledger-inclusion v1"
CONSISTENCY = "coc-ledger-consistency v1"
CHECKPOINT_HEADER = "coc-ledger checkpoint v1"
CHECKPOINT_FIELDS = ("origin", "tree-size", "last-position", "root-hash", "signed-at", "key-id")
STATEMENT_HEADER = "coc-ledger export v1"
STATEMENT_FIELDS = (
    "origin",
    "subject",
    "tree-size",
    "root-hash",
    "exported-at",
    "events",
    "positions",
)
LEAF_HEAD = struct.Struct(">BqqH")  # format, position, originator version, id length
LENGTH = struct.Struct(">I")


class Unusable(Exception):
    """The input is not a document this tool reads (exit 2)."""


class Failed(Exception):
    """The document does not verify (exit 1); names where, when it can."""

    def __init__(self, reason: str, position: int | None = None, leaf: int | None = None) -> None:
        where = []
        if position is not None:
            where.append(f"position {position}")
        if leaf is not None:
            where.append(f"leaf {leaf}")
        super().__init__(f"{', '.join(where)}: {reason}" if where else reason)


# --- RFC 9162 hashes and proofs (section 2.1) ----------------------------------------------


def leaf_hash(position: int, originator_id: str, version: int, topic: str, state: bytes) -> bytes:
    """SHA-256(0x00 || leaf), leaf = the stored row in CoC Ledger's canonical encoding."""
    oid = originator_id.encode("utf-8", "surrogatepass")
    text = topic.encode("utf-8", "surrogatepass")
    leaf = b"".join(
        (
            LEAF_HEAD.pack(1, position, version, len(oid)),
            oid,
            LENGTH.pack(len(text)),
            text,
            LENGTH.pack(len(state)),
            state,
        )
    )
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes | None:
    """RFC 9162 2.1.3.2: the root an inclusion proof leads to (None: it cannot be one)."""
    if not 0 <= index < size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def consistent(first: int, second: int, old: bytes, new: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 2.1.4.2: whether the tree of ``first`` leaves is a prefix of ``second``'s."""
    if not 0 < first <= second:
        return False
    if first == second:
        return not proof and old == new
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, old)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old and sr == new and sn == 0


# --- reading the document ------------------------------------------------------------------


def field(obj: Any, name: str, kind: type, where: str) -> Any:
    if not isinstance(obj, dict) or name not in obj:
        raise Unusable(f"{where}: missing {name!r}")
    value = obj[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise Unusable(f"{where}: {name!r} is not a {kind.__name__}")
    return value


def unbase64(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise Failed(f"{what} is not base64 text")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Failed(f"{what} is not base64") from None


def lines_of(text: str, header: str, names: Sequence[str], what: str) -> dict[str, str]:
    """The ``name: value`` lines of a signed text, in their fixed order."""
    lines = text.split("\n")
    if lines[0] != header or lines[-1] != "" or len(lines) != len(names) + 2:
        raise Failed(f"the {what} is not a '{header}' text")
    values = {}
    for name, line in zip(names, lines[1:-1], strict=True):
        if not line.startswith(f"{name}: "):
            raise Failed(f"the {what} lacks its {name!r} line")
        values[name] = line[len(name) + 2 :]
    return values


def same_time(shown: object, recorded: object) -> bool:
    """Whether two ISO 8601 texts name the same instant."""
    try:
        return datetime.fromisoformat(str(shown)) == datetime.fromisoformat(str(recorded))
    except ValueError:
        return False


def number(text: str, what: str) -> int:
    if not text.isdigit():
        raise Failed(f"{what} is not a number: {text!r}")
    return int(text)


class Keys:
    """The public keys a document carries, by id, each checked against its id."""

    def __init__(self, doc: dict[str, Any], trusted: set[str]) -> None:
        self.trusted = trusted
        self.by_id: dict[str, bytes] = {}
        self.positions: dict[str, int | None] = {}
        self.shown: dict[str, dict[str, Any]] = {}  # fields beside the key, checked later
        for i, key in enumerate(field(doc, "keys", list, "document")):
            where = f"keys[{i}]"
            key_id = field(key, "key_id", str, where)
            public = unbase64(field(key, "public_key", str, where), f"{where} public key")
            if len(public) != 32 or hashlib.sha256(public).hexdigest()[:16] != key_id:
                raise Failed(f"key {key_id}: its id is not the hash of its public key")
            if key.get("algorithm", "ed25519") != "ed25519":
                raise Failed(f"key {key_id}: not an Ed25519 key")
            self.by_id[key_id] = public
            self.shown[key_id] = key
            position = key.get("position")
            self.positions[key_id] = position if isinstance(position, int) else None

    def check(self, key_id: str, signature: bytes, message: bytes, what: str) -> None:
        public = self.by_id.get(key_id)
        if public is None:
            raise Failed(f"the {what} names key {key_id}, which the document does not carry")
        if self.trusted and key_id not in self.trusted:
            raise Failed(f"the {what} is signed by key {key_id}, not by a key you trust")
        try:
            Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
        except (InvalidSignature, ValueError):
            raise Failed(f"the signature of the {what} does not verify with key {key_id}") from None


class Checkpoint:
    def __init__(self, doc: Any, where: str, keys: Keys) -> None:
        self.note = field(doc, "note", str, where)
        signature = unbase64(field(doc, "signature", str, where), f"the {where} signature")
        values = lines_of(self.note, CHECKPOINT_HEADER, CHECKPOINT_FIELDS, f"{where} note")
        self.origin = values["origin"]
        self.tree_size = number(values["tree-size"], f"the {where}'s tree size")
        self.last_position = number(values["last-position"], f"the {where}'s last position")
        self.root = unbase64(values["root-hash"], f"the {where}'s root hash")
        self.signed_at = values["signed-at"]
        self.key_id = values["key-id"]
        keys.check(self.key_id, signature, self.note.encode(), where)
        readable = {  # the fields shown beside the note for readers must be the note's
            "origin": self.origin,
            "tree_size": self.tree_size,
            "last_position": self.last_position,
            "root_hash": values["root-hash"],
            "signed_at": self.signed_at,
            "key_id": self.key_id,
        }
        for name, signed in readable.items():
            if name in doc and doc[name] != signed:
                raise Failed(f"the {where}'s {name} disagrees with its signed note")

    def describe(self) -> str:
        return (
            f"tree of {self.tree_size} events (last position {self.last_position}) of "
            f"{self.origin!r}, signed at {self.signed_at} by key {self.key_id}"
        )


class Event:
    def __init__(self, doc: Any, where: str) -> None:
        self.position = field(doc, "position", int, where)
        self.leaf_index = field(doc, "leaf_index", int, where)
        self.originator_id = field(doc, "originator_id", str, where)
        self.version = field(doc, "originator_version", int, where)
        self.topic = field(doc, "topic", str, where)
        self.proof = field(doc, "proof", list, where)
        text, encoded = doc.get("state"), doc.get("state_base64")
        if isinstance(text, str) and encoded is None:
            self.state = text.encode("utf-8", "surrogatepass")
        elif text is None and isinstance(encoded, str):
            self.state = unbase64(encoded, f"{where} state")
        else:
            raise Unusable(f"{where}: not exactly one of 'state' (text) and 'state_base64'")
        if not all(-(2**63) <= n < 2**63 for n in (self.position, self.version)):
            raise Failed("a position or version out of range", self.position)

    def leaf(self) -> bytes:
        try:
            return leaf_hash(
                self.position, self.originator_id, self.version, self.topic, self.state
            )
        except struct.error:  # an id longer than 65,535 bytes: no stored row has one
            raise Failed("the event's originator id is too long", self.position) from None

    def verify(self, checkpoint: Checkpoint, proof: list[bytes]) -> None:
        root = root_from_inclusion(self.leaf_index, checkpoint.tree_size, self.leaf(), proof)
        if root != checkpoint.root:
            raise Failed(
                "the event does not lead to the checkpoint's root: its stored bytes, "
                "position, leaf index or proof were changed",
                self.position,
                self.leaf_index,
            )

    def state_json(self) -> dict[str, Any]:
        try:
            state = json.loads(self.state)
        except ValueError:
            raise Failed("the event's state is not JSON", self.position) from None
        if not isinstance(state, dict):
            raise Failed("the event's state is not a JSON object", self.position)
        return state


# --- the three documents -------------------------------------------------------------------


def verify_inclusion(doc: dict[str, Any], trusted: set[str]) -> str:
    keys = Keys(doc, trusted)
    checkpoint = Checkpoint(field(doc, "checkpoint", dict, "document"), "checkpoint", keys)
    event = Event(field(doc, "event", dict, "document"), "event")
    proof = [unbase64(h, f"a proof hash of position {event.position}") for h in event.proof]
    event.verify(checkpoint, proof)
    return f"the event at position {event.position} is in the {checkpoint.describe()}"


def verify_consistency(doc: dict[str, Any], trusted: set[str]) -> str:
    keys = Keys(doc, trusted)
    first = Checkpoint(field(doc, "first", dict, "document"), "first checkpoint", keys)
    second = Checkpoint(field(doc, "second", dict, "document"), "second checkpoint", keys)
    if first.origin != second.origin:
        raise Failed("the two checkpoints are of different logs (origins)")
    proof = [unbase64(h, "a consistency proof hash") for h in field(doc, "proof", list, "doc")]
    if not consistent(first.tree_size, second.tree_size, first.root, second.root, proof):
        raise Failed(
            f"the tree of {first.tree_size} events is not a prefix of the tree of "
            f"{second.tree_size}: the log changed between the two checkpoints (or the proof "
            "was altered)"
        )
    return (
        f"the {first.describe()} is a prefix of the {second.describe()}: nothing recorded "
        "before the first checkpoint changed"
    )


def _statement(doc: dict[str, Any], keys: Keys, checkpoint: Checkpoint) -> tuple[list[int], str]:
    text = field(doc, "statement", str, "document")
    signature = unbase64(field(doc, "statement_signature", str, "document"), "statement signature")
    keys.check(checkpoint.key_id, signature, text.encode(), "export statement")
    values = lines_of(text, STATEMENT_HEADER, STATEMENT_FIELDS, "export statement")
    if (
        values["origin"] != checkpoint.origin
        or number(values["tree-size"], "the statement's tree size") != checkpoint.tree_size
        or unbase64(values["root-hash"], "the statement's root hash") != checkpoint.root
    ):
        raise Failed("the export statement is about another checkpoint than the bundle's")
    listed = values["positions"].split(",") if values["positions"] else []
    positions = [number(p, "a listed position") for p in listed]
    if len(positions) != number(values["events"], "the statement's event count"):
        raise Failed("the export statement's count disagrees with its positions")
    if "subject" in doc:  # shown for readers: must be what the statement signs
        subject = doc["subject"]
        if not isinstance(subject, dict):
            raise Failed("the bundle's subject disagrees with its signed export statement")
        kind, coc, ref = subject.get("kind"), subject.get("coc"), subject.get("ref")
        shown = f"coc {coc}" if kind == "coc" and ref == "-" else f"{kind} {coc} {ref}"
        if shown != values["subject"]:
            raise Failed("the bundle's subject disagrees with its signed export statement")
    return positions, values["subject"]


def _keys_in_force(keys: Keys, events: dict[int, Event], checkpoint: Checkpoint) -> None:
    latest: tuple[int, str] | None = None
    for key_id, position in keys.positions.items():
        if position is None or position not in events:
            raise Failed(f"key {key_id}: the event that put it in force is not in the bundle")
        state = events[position].state_json()
        public = base64.b64encode(keys.by_id[key_id]).decode()
        if state.get("key_id") != key_id or state.get("public_key") != public:
            raise Failed(f"the event does not put key {key_id} in force", position)
        shown = keys.shown[key_id]
        if "previous_key_id" in shown and shown["previous_key_id"] != state.get("previous_key_id"):
            raise Failed(f"key {key_id}: its previous key disagrees with its event", position)
        if "recorded_at" in shown and not same_time(shown["recorded_at"], state.get("timestamp")):
            raise Failed(f"key {key_id}: its time disagrees with its event", position)
        if position <= checkpoint.last_position and (latest is None or position > latest[0]):
            latest = (position, key_id)
    if latest is None or latest[1] != checkpoint.key_id:
        raise Failed(
            f"the checkpoint is signed by key {checkpoint.key_id}, but the key in force for its "
            f"tree is {latest[1] if latest else 'none'}"
        )


def verify_bundle(doc: dict[str, Any], trusted: set[str]) -> str:
    keys = Keys(doc, trusted)
    checkpoint = Checkpoint(field(doc, "checkpoint", dict, "document"), "checkpoint", keys)
    hashes = field(doc, "hashes", list, "document")
    listed, about = _statement(doc, keys, checkpoint)
    events: dict[int, Event] = {}
    for i, raw in enumerate(field(doc, "events", list, "document")):
        event = Event(raw, f"events[{i}]")
        if event.position in events:
            raise Failed("the bundle holds two events at this position", event.position)
        events[event.position] = event
    in_statement = set(listed)
    seen_versions: dict[str, int] = {}
    for position in sorted(in_statement | set(events)):
        if position not in events:
            raise Failed(
                "listed in the signed export statement but missing from the bundle", position
            )
        event = events[position]
        if position not in in_statement:
            raise Failed(
                "not listed in the signed export statement (added to the bundle)", position
            )
        proof = []
        for ref in event.proof:
            if not isinstance(ref, int) or isinstance(ref, bool) or not 0 <= ref < len(hashes):
                raise Failed(f"the proof refers to hash {ref!r}, which the bundle lacks", position)
            proof.append(unbase64(hashes[ref], f"hash {ref}"))
        event.verify(checkpoint, proof)
        expected = seen_versions.get(event.originator_id, 0) + 1
        if event.version != expected:
            raise Failed(
                f"entity {event.originator_id} jumps to version {event.version}: version "
                f"{expected} is missing from the bundle",
                position,
            )
        seen_versions[event.originator_id] = event.version
    _keys_in_force(keys, events, checkpoint)
    return (
        f"{len(events)} events ({about}) of {len(seen_versions)} entities are in the "
        f"{checkpoint.describe()}"
    )


VERIFIERS = {BUNDLE: verify_bundle, INCLUSION: verify_inclusion, CONSISTENCY: verify_consistency}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="verify", description=__doc__.split("\n")[0] if __doc__ else None
    )
    parser.add_argument("file", help="a bundle or proof document (JSON)")
    parser.add_argument(
        "--trust",
        action="append",
        default=[],
        metavar="KEY_ID",
        help="accept only signatures by this key (repeatable): the key id your operator publishes",
    )
    args = parser.parse_args(argv)
    try:
        with open(args.file, "rb") as file:
            doc = json.loads(file.read())
        verifier = VERIFIERS.get(doc.get("format")) if isinstance(doc, dict) else None
        if verifier is None:
            raise Unusable(f"not a CoC Ledger document (format: one of {', '.join(VERIFIERS)})")
        summary = verifier(doc, set(args.trust))
    except (OSError, ValueError, RecursionError) as err:
        print(f"verify: unusable input: {err}", file=sys.stderr)
        return UNUSABLE
    except Unusable as err:
        print(f"verify: unusable input: {err}", file=sys.stderr)
        return UNUSABLE
    except Failed as err:
        print(f"NOT VERIFIED: {err}")
        return NOT_VERIFIED
    except Exception as err:  # a shape no check above foresaw: still not a usable document
        print(f"verify: unusable input ({type(err).__name__}: {err})", file=sys.stderr)
        return UNUSABLE
    print(f"VERIFIED: {summary}")
    if not args.trust:
        print(
            "note: no --trust KEY_ID given: compare the key id with the one your operator publishes"
        )
    return VERIFIED


if __name__ == "__main__":
    sys.exit(main())
