"""Sparse Merkle tree hashing, proofs and `verify_proof` (docs/STATE.md §Merkle). Pure.

The tree is a binary sparse Merkle tree of depth 256 over ``key_hash = SHA-256(key)``, with
the Diem/Aptos compaction rules:

1. An empty subtree hashes to ``PLACEHOLDER`` (32 zero bytes).
2. A subtree holding exactly one leaf is that leaf, placed at the subtree's root (leaves
   "float" to the shallowest position where they are alone).
3. ``leaf_hash = SHA-256(0x00 || key_hash || SHA-256(value))``.
4. A subtree holding two or more leaves is an internal node,
   ``SHA-256(0x01 || left || right)``; bit i (MSB first) of key_hash picks the side at depth i.
5. The root of the empty tree is PLACEHOLDER.

A proof for `key` lists the sibling hashes from the root down to where the key's path ends
(a leaf or an empty subtree), and the leaf found there (its key_hash and value hash), if any.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import Final

HASH_LEN: Final = 32
PLACEHOLDER: Final = bytes(HASH_LEN)
MAX_DEPTH: Final = 256

_sha256 = hashlib.sha256


def key_hash(key: bytes) -> bytes:
    """The tree position of a state key."""
    return _sha256(key).digest()


def leaf_hash(khash: bytes, value_hash: bytes) -> bytes:
    """Rule 3, from the value's hash."""
    return _sha256(b"\x00" + khash + value_hash).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Rule 4."""
    return _sha256(b"\x01" + left + right).digest()


class ProofFormatError(ValueError):
    """Bytes that are not an encoded SparseMerkleProof."""


@dataclass(frozen=True)
class SparseMerkleProof:
    """Proof of a key's value (inclusion) or absence (non-inclusion) under a root."""

    siblings: tuple[bytes, ...]
    """Sibling hashes from depth 0 (just below the root) down to the end of the key's path."""
    leaf: tuple[bytes, bytes] | None
    """(key_hash, value_hash) of the leaf where the path ends; None if it ends empty."""

    def encode(self) -> bytes:
        """``u16 n || bitmap(ceil(n/8), bit i set = sibling i non-placeholder, MSB first) ||
        non-placeholder siblings || u8 has_leaf || [key_hash || value_hash]``."""
        n = len(self.siblings)
        bitmap = bytearray((n + 7) // 8)
        present = []
        for i, sib in enumerate(self.siblings):
            if sib != PLACEHOLDER:
                bitmap[i >> 3] |= 0x80 >> (i & 7)
                present.append(sib)
        leaf = b"\x01" + self.leaf[0] + self.leaf[1] if self.leaf else b"\x00"
        return struct.pack(">H", n) + bytes(bitmap) + b"".join(present) + leaf

    @classmethod
    def decode(cls, raw: bytes) -> SparseMerkleProof:
        """Inverse of `encode`; raises ProofFormatError on any malformed input."""
        if len(raw) < 3:
            raise ProofFormatError("proof shorter than 3 bytes")
        (n,) = struct.unpack_from(">H", raw)
        if n > MAX_DEPTH:
            raise ProofFormatError(f"{n} siblings > {MAX_DEPTH}")
        pos = 2 + (n + 7) // 8
        bitmap = raw[2:pos]
        siblings = []
        for i in range(n):
            if len(bitmap) == (n + 7) // 8 and bitmap[i >> 3] & (0x80 >> (i & 7)):
                siblings.append(raw[pos : pos + HASH_LEN])
                pos += HASH_LEN
            else:
                siblings.append(PLACEHOLDER)
        tail = raw[pos:]
        if any(len(s) != HASH_LEN for s in siblings) or tail[:1] not in (b"\x00", b"\x01"):
            raise ProofFormatError("truncated proof")
        if tail == b"\x00":
            return cls(tuple(siblings), None)
        if len(tail) != 1 + 2 * HASH_LEN:
            raise ProofFormatError(f"leaf part is {len(tail)} bytes, expected 1 or {1 + 2 * HASH_LEN}")
        return cls(tuple(siblings), (tail[1:33], tail[33:65]))


def _bit(khash: bytes, depth: int) -> int:
    return (khash[depth >> 3] >> (7 - (depth & 7))) & 1


def _shares_prefix(a: bytes, b: bytes, bits: int) -> bool:
    full, rest = divmod(bits, 8)
    if a[:full] != b[:full]:
        return False
    if rest == 0:
        return True
    mask = (0xFF << (8 - rest)) & 0xFF
    return (a[full] & mask) == (b[full] & mask)


def verify_proof(root: bytes, key: bytes, value: bytes | None, proof: SparseMerkleProof) -> bool:
    """True iff `proof` shows that under `root`, `key` maps to `value` (None: is absent).

    1. Inclusion (value given): the proof's leaf has key_hash = SHA-256(key) and
       value_hash = SHA-256(value).
    2. Non-inclusion (value None): the path ends empty, or at a leaf of another key whose
       key_hash shares the first len(siblings) bits with SHA-256(key).
    3. Folding the bottom hash with the siblings, bottom-up, by the key's bits gives `root`.
    """
    if len(proof.siblings) > MAX_DEPTH or len(root) != HASH_LEN:
        return False
    khash = key_hash(key)
    depth = len(proof.siblings)
    if value is not None:
        if proof.leaf is None or proof.leaf != (khash, _sha256(value).digest()):
            return False
        current = leaf_hash(*proof.leaf)
    elif proof.leaf is None:
        current = PLACEHOLDER
    else:
        other, vhash = proof.leaf
        if len(other) != HASH_LEN or other == khash or not _shares_prefix(other, khash, depth):
            return False
        current = leaf_hash(other, vhash)
    for d in range(depth - 1, -1, -1):
        sib = proof.siblings[d]
        current = node_hash(sib, current) if _bit(khash, d) else node_hash(current, sib)
    return current == root
