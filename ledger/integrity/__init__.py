"""Tamper-evident history: every stored event, in log order, is a leaf of an RFC 9162 Merkle
tree; signed checkpoints, inclusion and consistency proofs, exports and the self-check."""
