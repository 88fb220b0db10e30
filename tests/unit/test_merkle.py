"""RFC 9162 trees and proofs: known answers of the Certificate Transparency test tree, and a
brute-force recomputation (written straight from the RFC's recursive definitions) against
the project's iterative code and the offline verifier's own copy."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.integrity.leaves import EMPTY_ROOT
from ledger.integrity.proofs import (
    consistency_ranges,
    inclusion_ranges,
    root_from_inclusion,
    verify_consistency,
    verify_inclusion,
)
from ledger.integrity.tree import STRIDE, Frontier, NodeKey, decompose, range_hashes, root_of
from tests.script_modules import load_script as load_script_module

ROOT = Path(__file__).resolve().parents[2]

# The Certificate Transparency reference test tree (RFC 6962 implementations, e.g.
# transparency-dev/merkle testonly): its leaves and the roots of its first 1..8 leaves.
CT_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = {  # (leaf index, tree size): audit path
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
}
CT_CONSISTENCY = {  # (first, second): proof
    (1, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 5): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}


def load_verifier() -> ModuleType:
    return load_script_module("verify")


VERIFY = load_verifier()


# --- the RFC's definitions, naive and recursive ------------------------------------------


def leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def k_of(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(hashes: list[bytes]) -> bytes:
    """MTH over leaf hashes."""
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = k_of(len(hashes))
    return hashlib.sha256(b"\x01" + mth(hashes[:k]) + mth(hashes[k:])).digest()


def path(m: int, hashes: list[bytes]) -> list[bytes]:
    if len(hashes) == 1:
        return []
    k = k_of(len(hashes))
    if m < k:
        return [*path(m, hashes[:k]), mth(hashes[k:])]
    return [*path(m - k, hashes[k:]), mth(hashes[:k])]


def subproof(m: int, hashes: list[bytes], whole: bool) -> list[bytes]:
    n = len(hashes)
    if m == n:
        return [] if whole else [mth(hashes)]
    k = k_of(n)
    if m <= k:
        return [*subproof(m, hashes[:k], whole), mth(hashes[k:])]
    return [*subproof(m - k, hashes[k:], False), mth(hashes[:k])]


class StoredTree:
    """What the store keeps (leaves, and nodes of every STRIDE-th level), built naively."""

    def __init__(self, hashes: list[bytes]) -> None:
        self.nodes: dict[NodeKey, bytes] = {(0, i): h for i, h in enumerate(hashes)}
        level = STRIDE
        while (1 << level) <= len(hashes):
            for i in range(len(hashes) >> level):
                self.nodes[level, i] = mth(hashes[i << level : (i + 1) << level])
            level += STRIDE
        self.fetched: list[set[NodeKey]] = []

    def fetch(self, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
        wanted = set(keys)
        self.fetched.append(wanted)
        return {key: self.nodes[key] for key in wanted}


def ct_hashes(n: int) -> list[bytes]:
    return [leaf(d) for d in CT_LEAVES[:n]]


# --- known answers -----------------------------------------------------------------------


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_of_the_ct_test_tree_are_the_published_ones(size: int) -> None:
    hashes = ct_hashes(size)
    assert root_of(hashes).hex() == CT_ROOTS[size - 1]
    assert range_hashes([(0, size)], StoredTree(hashes).fetch)[0].hex() == CT_ROOTS[size - 1]


def test_the_empty_tree_has_the_hash_of_nothing() -> None:
    assert root_of([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()


@pytest.mark.parametrize(("index", "size"), sorted(CT_INCLUSION))
def test_inclusion_proofs_of_the_ct_test_tree_are_the_published_ones(index: int, size: int) -> None:
    hashes = ct_hashes(size)
    proof = range_hashes(inclusion_ranges(index, size), StoredTree(hashes).fetch)
    assert [h.hex() for h in proof] == CT_INCLUSION[index, size]
    root = bytes.fromhex(CT_ROOTS[size - 1])
    assert verify_inclusion(index, size, hashes[index], proof, root)
    assert VERIFY.root_from_inclusion(index, size, hashes[index], proof) == root


@pytest.mark.parametrize(("first", "second"), sorted(CT_CONSISTENCY))
def test_consistency_proofs_of_the_ct_test_tree_are_the_published_ones(
    first: int, second: int
) -> None:
    proof = range_hashes(consistency_ranges(first, second), StoredTree(ct_hashes(second)).fetch)
    assert [h.hex() for h in proof] == CT_CONSISTENCY[first, second]
    old, new = bytes.fromhex(CT_ROOTS[first - 1]), bytes.fromhex(CT_ROOTS[second - 1])
    assert verify_consistency(first, second, old, new, proof)
    assert VERIFY.consistent(first, second, old, new, proof)


# --- against the naive definitions -------------------------------------------------------

trees = st.integers(min_value=1, max_value=300).map(
    lambda n: [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(n)]
)


@settings(max_examples=150, deadline=None)
@given(hashes=trees, data=st.data())
def test_inclusion_proofs_equal_the_rfc_definition_and_verify_in_both_verifiers(
    hashes: list[bytes], data: st.DataObject
) -> None:
    n = len(hashes)
    m = data.draw(st.integers(min_value=0, max_value=n - 1))
    root = mth(hashes)
    proof = range_hashes(inclusion_ranges(m, n), StoredTree(hashes).fetch)
    assert proof == path(m, hashes)
    assert root_from_inclusion(m, n, hashes[m], proof) == root
    assert VERIFY.root_from_inclusion(m, n, hashes[m], proof) == root
    other = (m + 1) % n
    if other != m:  # the proof of one leaf proves no other
        assert not verify_inclusion(other, n, hashes[other], proof, root)
        assert VERIFY.root_from_inclusion(other, n, hashes[other], proof) != root
    if proof:  # any changed hash, a shortened or a lengthened proof fails
        bent = list(proof)
        bent[data.draw(st.integers(0, len(bent) - 1))] = hashlib.sha256(b"forged").digest()
        assert not verify_inclusion(m, n, hashes[m], bent, root)
        assert VERIFY.root_from_inclusion(m, n, hashes[m], bent) != root
        assert VERIFY.root_from_inclusion(m, n, hashes[m], proof[:-1]) != root
    assert VERIFY.root_from_inclusion(m, n, hashes[m], [*proof, root]) != root


@settings(max_examples=150, deadline=None)
@given(hashes=trees, data=st.data())
def test_consistency_proofs_equal_the_rfc_definition_and_verify_in_both_verifiers(
    hashes: list[bytes], data: st.DataObject
) -> None:
    n = len(hashes)
    m = data.draw(st.integers(min_value=1, max_value=n))
    old, new = mth(hashes[:m]), mth(hashes)
    proof = range_hashes(consistency_ranges(m, n), StoredTree(hashes).fetch)
    assert proof == subproof(m, hashes, True)
    assert verify_consistency(m, n, old, new, proof)
    assert VERIFY.consistent(m, n, old, new, proof)
    changed = [*hashes[: m - 1], hashlib.sha256(b"rewritten").digest(), *hashes[m:]]
    if m < n:  # a tree whose older part was rewritten is not consistent with the old root
        assert not verify_consistency(m, n, old, mth(changed), proof)
        assert not VERIFY.consistent(m, n, old, mth(changed), proof)
        for i in range(len(proof)):
            bent = [*proof[:i], hashlib.sha256(b"forged").digest(), *proof[i + 1 :]]
            assert not verify_consistency(m, n, old, new, bent)
            assert not VERIFY.consistent(m, n, old, new, bent)


@settings(max_examples=100, deadline=None)
@given(hashes=trees)
def test_the_frontier_closes_exactly_the_complete_subtrees(hashes: list[bytes]) -> None:
    frontier = Frontier()
    closed = {}
    for i, h in enumerate(hashes):
        for level, index, value in frontier.append(h):
            closed[level, index] = value
        assert frontier.root() == mth(hashes[: i + 1])
    expected = {
        (level, i): mth(hashes[i << level : (i + 1) << level])
        for level in range(1, len(hashes).bit_length())
        for i in range(len(hashes) >> level)
    }
    assert closed == expected
    assert frontier.hashes == [
        mth(hashes[i << level : (i + 1) << level]) for level, i in decompose(0, len(hashes))
    ]


def test_a_proof_reads_few_stored_nodes_from_a_large_tree() -> None:
    n = 100_003
    tree = StoredTree([hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(n)])
    range_hashes(inclusion_ranges(77_777, n), tree.fetch)
    assert len(tree.fetched) == 1
    assert len(tree.fetched[0]) < 17 * (1 << (STRIDE - 1))
