"""The self-check's pass over the log: stored events against sealed leaves, the tree
recomputed against stored nodes and checkpoint roots, a page of 2**14 leaves at a time.

A page is checked wholesale (positions and leaf hashes compared as lists, the page's subtree
levels built pair by pair); only a page that disagrees is walked event by event, to name the
first mismatch exactly. Pages are aligned on 2**14 leaves, so every complete subtree of up to
that size lies inside one page, and the tree above pages is a frontier of page roots.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass
from hashlib import sha256

from ledger.integrity.checkpoints import Checkpoint
from ledger.integrity.leaves import LEAF_FORMAT, LEAF_HEAD, LENGTH, NODE_PREFIX
from ledger.integrity.store import IntegrityStore
from ledger.integrity.tree import STRIDE, decompose, fold

PAGE_LEVEL = 14
PAGE = 1 << PAGE_LEVEL
Row = tuple[int, str, int, str, bytes]
Leaf = tuple[int, int, bytes]


@dataclass(frozen=True)
class Mismatch:
    """The first thing that does not verify: where, and why."""

    reason: str
    position: int | None = None
    leaf_index: int | None = None

    def describe(self) -> str:
        where = []
        if self.position is not None:
            where.append(f"position {self.position}")
        if self.leaf_index is not None:
            where.append(f"leaf {self.leaf_index}")
        return f"{', '.join(where)}: {self.reason}" if where else self.reason


class Found(Exception):
    def __init__(self, mismatch: Mismatch) -> None:
        self.mismatch = mismatch


@dataclass
class Scanned:
    leaves: int = 0
    last_position: int = 0
    checkpoints: int = 0
    unsealed: int = 0


def leaf_hashes(rows: list[Row]) -> list[bytes]:
    """The leaf hash of each stored row: leaves.leaf_hash unrolled for speed (a topic's
    length-prefixed bytes are made once; a test holds the two equal)."""
    head, length = LEAF_HEAD.pack, LENGTH.pack
    topics: dict[str, bytes] = {}
    hashes: list[bytes] = []
    append = hashes.append
    for position, originator_id, version, topic, state in rows:
        try:
            text = topics.get(topic)
            if text is None:
                encoded = topic.encode("utf-8", "surrogatepass")
                text = topics[topic] = length(len(encoded)) + encoded
            oid = originator_id.encode("utf-8", "surrogatepass")
            digest = sha256(
                head(0, LEAF_FORMAT, position, version, len(oid)) + oid + text + length(len(state))
            )
            digest.update(state)
            append(digest.digest())
        except (AttributeError, TypeError, struct.error):  # a row no writer of ours made
            append(b"")  # matches no sealed leaf: named where it lies
    return hashes


def levels_of(hashes: list[bytes]) -> list[list[bytes]]:
    """Level 0 is the leaves; each next level the complete pairs of the one below."""
    levels = [hashes]
    while len(levels[-1]) > 1:
        pairs = iter(levels[-1])  # zip(pairs, pairs): consecutive pairs, an odd last one left
        levels.append(
            [sha256(NODE_PREFIX + a + b).digest() for a, b in zip(pairs, pairs, strict=False)]
        )
    return levels


def scan(store: IntegrityStore, signed: list[Checkpoint]) -> Scanned:
    """Check every sealed leaf, stored node and checkpoint root against the stored events."""
    done = Scanned()
    due = deque(signed)
    upper: list[tuple[int, bytes]] = []  # (level, hash): complete subtrees before the page
    start, after, previous_size = 0, None, 0
    while True:
        leaves = store.leaves(start, PAGE)
        if not leaves:
            break
        rows = store.row_tuples_between(after, leaves[-1][1])
        hashes = _check_page(start, leaves, rows)
        levels = levels_of(hashes)
        _check_nodes(store, start, levels)
        while due and due[0].tree_size <= start + len(leaves):
            checkpoint = due.popleft()
            size = checkpoint.tree_size
            inside = [levels[lvl][i - (start >> lvl)] for lvl, i in decompose(start, size)]
            root = fold([h for _, h in upper] + inside)
            _at_checkpoint(checkpoint, root, leaves[size - 1 - start][1], previous_size)
            previous_size = size
            done.checkpoints += 1
        done.leaves, done.last_position = start + len(leaves), leaves[-1][1]
        after = leaves[-1][1]
        if len(leaves) < PAGE:
            break
        _push(store, upper, levels[PAGE_LEVEL][0], start)
        start += PAGE
    if due:
        checkpoint = due[0]
        raise Found(
            Mismatch(
                f"the checkpoint of size {checkpoint.tree_size} (last position "
                f"{checkpoint.last_position}) covers more leaves than are sealed "
                f"({done.leaves}): sealed leaves were removed",
                checkpoint.last_position,
            )
        )
    while rows := store.row_tuples_after(after, PAGE):
        done.unsealed += len(rows)
        after = rows[-1][0]
    return done


def _check_page(start: int, leaves: list[Leaf], rows: list[Row]) -> list[bytes]:
    """The page's leaf hashes, if its rows are exactly its sealed leaves (else the first
    difference is named)."""
    if leaves[-1][0] != start + len(leaves) - 1 or leaves[0][0] != start:
        first = next(i for i, leaf in enumerate(leaves) if leaf[0] != start + i)
        raise Found(Mismatch("a sealed leaf is missing from the leaves table", None, start + first))
    hashes = leaf_hashes(rows)
    if [r[0] for r in rows] == [leaf[1] for leaf in leaves] and hashes == [
        leaf[2] for leaf in leaves
    ]:
        return hashes
    _locate(leaves, rows, hashes)
    raise AssertionError("a page that differs has a first difference")  # pragma: no cover


def _locate(leaves: list[Leaf], rows: list[Row], hashes: list[bytes]) -> None:
    """Walk a page that differs, event by event, and raise its first mismatch."""
    for at, (index, position, sealed) in enumerate(leaves):
        if at == len(rows) or rows[at][0] > position:
            raise Found(
                Mismatch(
                    "a sealed event is missing from the log (deleted, or moved elsewhere)",
                    position,
                    index,
                )
            )
        if rows[at][0] < position:
            raise Found(
                Mismatch(
                    "an event the tree never sealed lies between sealed ones (inserted after "
                    "sealing, or moved here)",
                    rows[at][0],
                )
            )
        if hashes[at] != sealed:
            raise Found(
                Mismatch(
                    "the stored event is not the one sealed here (changed after sealing)",
                    position,
                    index,
                )
            )


def _check_nodes(store: IntegrityStore, start: int, levels: list[list[bytes]]) -> None:
    for level in range(STRIDE, min(len(levels), PAGE_LEVEL + 1), STRIDE):
        computed = levels[level]
        first = start >> level
        stored = store.nodes(level, first, len(computed))
        if [i for i, _ in stored] == list(range(first, first + len(computed))) and [
            h for _, h in stored
        ] == computed:
            continue
        found = dict(stored)
        for offset, value in enumerate(computed):
            if found.get(first + offset) != value:
                _bad_node(level, first + offset)


def _push(store: IntegrityStore, upper: list[tuple[int, bytes]], root: bytes, start: int) -> None:
    """Add a full page's root to the frontier above pages, checking the stored nodes it
    completes."""
    level, value = PAGE_LEVEL, root
    while upper and upper[-1][0] == level:
        value = sha256(NODE_PREFIX + upper.pop()[1] + value).digest()
        level += 1
        if level % STRIDE == 0:
            index = ((start + PAGE) >> level) - 1
            if dict(store.nodes(level, index, 1)).get(index) != value:
                _bad_node(level, index)
    upper.append((level, value))


def _bad_node(level: int, index: int) -> None:
    raise Found(
        Mismatch(
            f"the stored node (level {level}, index {index}) is not the hash of the leaves "
            "below it: proofs through it would fail (stored nodes damaged)",
            None,
            (index + 1) * (1 << level) - 1,
        )
    )


def _at_checkpoint(checkpoint: Checkpoint, root: bytes, position: int, previous_size: int) -> None:
    if checkpoint.root_hash != root or checkpoint.last_position != position:
        raise Found(
            Mismatch(
                f"the stored events and the sealed leaves agree, but not with the checkpoint "
                f"of size {checkpoint.tree_size} signed at {checkpoint.signed_at.isoformat()}: "
                f"both were rewritten somewhere in leaves {previous_size} to "
                f"{checkpoint.tree_size - 1}",
                position,
            )
        )
