"""Inclusion and consistency proofs of RFC 9162 (sections 2.1.3 and 2.1.4).

Generation returns the *ranges of leaves* whose hashes make up a proof, in proof order
(``PATH`` and ``SUBPROOF`` of the RFC, written over index ranges); tree.range_hashes turns
them into hashes from the stored nodes. Verification follows the RFC's algorithms step by
step; ``scripts/verify.py`` carries its own copy for auditors (tests keep the two in step,
against known vectors and a brute-force recomputation).
"""

from __future__ import annotations

from collections.abc import Sequence

from ledger.integrity.leaves import node_hash
from ledger.integrity.tree import split_point

Range = tuple[int, int]


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """PATH(index, D[0:size]): the sibling ranges from the leaf up to the root."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    ranges: list[Range] = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def consistency_ranges(first: int, second: int) -> list[Range]:
    """PROOF(first, D[0:second]) = SUBPROOF(first, D[0:second], true), as ranges."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from a tree of {first} to one of {second}")
    ranges: list[Range] = []
    start, end, whole = 0, second, True
    while True:
        size, m = end - start, first - start
        if m == size:
            if not whole:
                ranges.append((start, end))
            break
        k = split_point(size)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start, whole = start + k, False
    ranges.reverse()
    return ranges


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes | None:
    """RFC 9162 2.1.3.2: the root an inclusion proof leads to (None: malformed proof)."""
    if index >= size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    return root_from_inclusion(index, size, leaf, proof) == root


def verify_consistency(
    first: int,
    second: int,
    first_root: bytes,
    second_root: bytes,
    proof: Sequence[bytes],
) -> bool:
    """RFC 9162 2.1.4.2 (equal sizes: an empty proof and equal roots)."""
    if not 0 < first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # an exact power of two
        path.insert(0, first_root)
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
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0
