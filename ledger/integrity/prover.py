"""Proofs read from the stored tree: inclusion of leaves, consistency of two tree sizes.

Each proof is a list of subtree hashes (proofs.py names their ranges); the hashes come from
the stored leaves and nodes in one read per batch, so a proof costs a few queries whatever
the size of the log.
"""

from __future__ import annotations

from collections.abc import Sequence

from ledger.errors import InvalidInput
from ledger.integrity.proofs import Range, consistency_ranges, inclusion_ranges
from ledger.integrity.store import IntegrityStore
from ledger.integrity.tree import range_hashes

BATCH = 1000  # leaves whose proofs are read together


def _sealed(store: IntegrityStore, tree_size: int) -> None:
    sealed = store.tree_size()
    if tree_size > sealed:
        raise InvalidInput(f"the tree has {sealed} leaves, not {tree_size}", field="tree_size")


def inclusion_proofs(
    store: IntegrityStore, leaf_indexes: Sequence[int], tree_size: int
) -> dict[int, list[bytes]]:
    """The inclusion proof of each leaf in the tree of ``tree_size`` leaves."""
    _sealed(store, tree_size)
    proofs: dict[int, list[bytes]] = {}
    ordered = sorted(set(leaf_indexes))
    for start in range(0, len(ordered), BATCH):
        batch = ordered[start : start + BATCH]
        paths = {index: inclusion_ranges(index, tree_size) for index in batch}
        unique: list[Range] = sorted({r for path in paths.values() for r in path})
        hashes = dict(zip(unique, range_hashes(unique, store.fetch), strict=True))
        for index, path in paths.items():
            proofs[index] = [hashes[r] for r in path]
    return proofs


def consistency_proof(store: IntegrityStore, first: int, second: int) -> list[bytes]:
    """The proof that the tree of ``first`` leaves is a prefix of the one of ``second``."""
    _sealed(store, second)
    try:
        ranges = consistency_ranges(first, second)
    except ValueError as err:
        raise InvalidInput(str(err), field="first") from err
    return range_hashes(ranges, store.fetch)
