"""Block hash and transaction root (docs/BLOCKS.md). Pure.

Header hash (rule H):

1. The canonical header encoding is the concatenation, big-endian, of
   ``b"cybermesh/v1/block-header\\x00"`` (domain tag), ``u32 schema_version``,
   ``str chain_id``, ``u64 height``, ``u64 round``, ``b32 parent_hash``, ``str proposer``,
   ``b32 tx_root``, ``b32 state_root_hint``, ``i64 timestamp``, ``u32 tx_count``,
   ``u64 state_root_height``; where ``str`` is
   ``u32 length || UTF-8 bytes`` and ``b32`` is exactly 32 raw bytes.
2. ``block_hash(header) = SHA-256(canonical header encoding)``.

Transaction root (rule T, RFC 6962 tree shape, domain-separated):

1. ``leaf(tx) = SHA-256(0x00 || u32 kind || SHA-256(tx.raw))`` (SHA-256(raw) is the tx hash).
2. ``node(l, r) = SHA-256(0x01 || l || r)``.
3. ``root([]) = SHA-256(b"")``; ``root([x]) = leaf(x)``; for n > 1, with k the largest power of
   two strictly below n, ``root(D) = node(root(D[:k]), root(D[k:]))``. An odd tail is never
   duplicated (no CVE-2012-2459-style second preimage).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from typing import Final

from cybermesh.proto.v1 import block_pb2

HEADER_DOMAIN: Final = b"cybermesh/v1/block-header\x00"
HASH_LEN: Final = 32
ZERO_HASH: Final = bytes(HASH_LEN)
EMPTY_TX_ROOT: Final = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256


class HeaderEncodingError(ValueError):
    """A header field that cannot be canonically encoded (e.g. a hash of the wrong length)."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field


def _b32(field: str, value: bytes) -> bytes:
    if len(value) != HASH_LEN:
        raise HeaderEncodingError(field, f"expected {HASH_LEN} bytes, got {len(value)}")
    return value


def _str(value: str) -> bytes:
    raw = value.encode("utf-8")
    return struct.pack(">I", len(raw)) + raw


def header_bytes(header: block_pb2.BlockHeader) -> bytes:
    """The canonical header encoding of rule H.1."""
    return b"".join(
        (
            HEADER_DOMAIN,
            struct.pack(">I", header.schema_version),
            _str(header.chain_id),
            struct.pack(">QQ", header.height, header.round),
            _b32("parent_hash", header.parent_hash),
            _str(header.proposer),
            _b32("tx_root", header.tx_root),
            _b32("state_root_hint", header.state_root_hint),
            struct.pack(">qIQ", header.timestamp, header.tx_count, header.state_root_height),
        )
    )


def block_hash(header: block_pb2.BlockHeader) -> bytes:
    """Rule H.2: SHA-256 of the canonical header encoding. Identifies the block."""
    return _sha256(header_bytes(header)).digest()


def tx_leaf(tx: block_pb2.Tx) -> bytes:
    """Rule T.1."""
    return _sha256(b"\x00" + struct.pack(">I", tx.kind) + _sha256(tx.raw).digest()).digest()


def _root(leaves: Sequence[bytes]) -> bytes:
    n = len(leaves)
    if n == 1:
        return leaves[0]
    k = 1 << ((n - 1).bit_length() - 1)
    return _sha256(b"\x01" + _root(leaves[:k]) + _root(leaves[k:])).digest()


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """Rule T.3 over already-hashed leaves."""
    return _root(leaves) if leaves else EMPTY_TX_ROOT


def tx_root(txs: Sequence[block_pb2.Tx]) -> bytes:
    """The tx_root of a block's transactions (rule T)."""
    return merkle_root([tx_leaf(tx) for tx in txs])
