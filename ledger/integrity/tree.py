"""Merkle tree arithmetic of RFC 9162 section 2.1: roots, complete subtrees, the frontier.

A *node* is the root of a complete subtree of ``2**level`` leaves starting at leaf
``index * 2**level``; it is named by ``(level, index)`` (leaves are level 0). Every range of
leaves an RFC 9162 proof needs is a run of complete subtrees of decreasing size, and its hash
is theirs folded from the right (``MTH(D[a:b]) = HASH(0x01 || MTH(first) || MTH(rest))``).

The store keeps the leaves and the nodes of every ``STRIDE``-th level (see store.py): any
other node is computed from at most ``2**(STRIDE-1)`` stored ones below it, so a proof reads
a few hundred hashes at most, and the stored nodes number about a fifteenth of the leaves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from ledger.integrity.leaves import EMPTY_ROOT, node_hash

NodeKey = tuple[int, int]  # (level, index)
STRIDE = 4


def split_point(size: int) -> int:
    """The largest power of two smaller than ``size`` (RFC 9162's k, for size > 1)."""
    assert size > 1
    return 1 << ((size - 1).bit_length() - 1)


def decompose(start: int, end: int) -> list[NodeKey]:
    """The complete subtrees, left to right, that make up leaves ``[start, end)``: the greedy
    split of an RFC 9162 range (``start`` is a multiple of a power of two >= its length)."""
    keys: list[NodeKey] = []
    while start < end:
        level = (end - start).bit_length() - 1
        while start & ((1 << level) - 1):
            level -= 1
        keys.append((level, start >> level))
        start += 1 << level
    return keys


def fold(hashes: Sequence[bytes]) -> bytes:
    """The hash of consecutive complete subtrees of decreasing size, folded from the right."""
    if not hashes:
        return EMPTY_ROOT
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def stored_below(key: NodeKey) -> list[NodeKey]:
    """The stored nodes (leaves, or a level that is a multiple of STRIDE) a node is made of."""
    level, index = key
    extra = level % STRIDE
    if extra == 0:
        return [key]
    base = index << extra
    return [(level - extra, base + offset) for offset in range(1 << extra)]


def combine_stored(key: NodeKey, fetched: dict[NodeKey, bytes]) -> bytes:
    """A node's hash from the stored nodes :func:`stored_below` names."""
    layer = [fetched[k] for k in stored_below(key)]
    while len(layer) > 1:
        layer = [node_hash(layer[i], layer[i + 1]) for i in range(0, len(layer), 2)]
    return layer[0]


Fetch = Callable[[Iterable[NodeKey]], dict[NodeKey, bytes]]


def range_hashes(ranges: Sequence[tuple[int, int]], fetch: Fetch) -> list[bytes]:
    """The hash of each range of leaves, reading every stored node needed in one ``fetch``."""
    plans = [decompose(start, end) for start, end in ranges]
    wanted = {stored for plan in plans for key in plan for stored in stored_below(key)}
    fetched = fetch(wanted)
    return [fold([combine_stored(key, fetched) for key in plan]) for plan in plans]


class Frontier:
    """The right edge of a tree: the roots of its complete subtrees, largest first (one per
    set bit of its size). Appending a leaf gives the new complete nodes it closes."""

    __slots__ = ("hashes", "size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        assert len(hashes) == size.bit_count()
        self.size = size
        self.hashes = list(hashes)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf; returns the nodes ``(level, index, hash)`` it completes (level >= 1)."""
        closed: list[tuple[int, int, bytes]] = []
        size, hashes, value, level = self.size, self.hashes, leaf, 0
        while size & 1:
            value = node_hash(hashes.pop(), value)
            size >>= 1
            level += 1
            closed.append((level, ((self.size + 1) >> level) - 1, value))
        hashes.append(value)
        self.size += 1
        return closed

    def root(self) -> bytes:
        return fold(self.hashes)

    def copy(self) -> Frontier:
        return Frontier(self.size, self.hashes)


def root_of(leaf_hashes: Iterable[bytes]) -> bytes:
    """The tree head of these leaves (RFC 9162 MTH), in one pass."""
    frontier = Frontier()
    for leaf in leaf_hashes:
        frontier.append(leaf)
    return frontier.root()
