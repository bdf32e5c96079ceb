"""Block hash and the domain-separated bytes that consensus signatures cover.

Rules:

1. `block_hash(header)` is the block core's canonical header hash (`cybermesh.block.hashing`,
   docs/BLOCKS.md rule H.2): SHA-256 over a fixed big-endian header encoding, independent of
   protobuf serialization. The header commits to the payload via `tx_root`.
2. The genesis block is virtual: its hash is `GENESIS_HASH` (32 zero bytes, the parent hash of
   height 1), height 0, round 0. It is certified by `genesis_qc(chain_id)`, which carries no
   signatures and is valid by definition.
3. Every signature covers a domain tag, the chain id and the round:
   proposal `PROPOSAL_DOMAIN + chain_id + 0x00 + u64be(round) + block_hash`;
   vote `VOTE_DOMAIN + encode(VoteData)` (VoteData holds chain_id and round);
   timeout `TIMEOUT_DOMAIN + chain_id + 0x00 + u64be(round) + u64be(high_qc_round)`.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from cybermesh.block import hashing
from cybermesh.proto.v1 import block_pb2
from cybermesh.wire.signing import verify_signature
from cybermesh.wire.strict import encode

PROPOSAL_DOMAIN: Final = b"cybermesh/v1/consensus/proposal\x00"
VOTE_DOMAIN: Final = b"cybermesh/v1/consensus/vote\x00"
TIMEOUT_DOMAIN: Final = b"cybermesh/v1/consensus/timeout\x00"
GENESIS_HASH: Final = bytes(32)
SCHEMA_VERSION: Final = 1

#: `verify(pubkey, message, signature) -> bool`; the default is plain Ed25519.
Verify = Callable[[bytes, bytes, bytes], bool]


def block_hash(header: block_pb2.BlockHeader) -> bytes:
    """Rule 1."""
    return hashing.block_hash(header)


def well_formed(header: block_pb2.BlockHeader) -> bool:
    """parent_hash, tx_root and state_root_hint are 32 bytes each (required before hashing)."""
    return len(header.parent_hash) == len(header.tx_root) == len(header.state_root_hint) == 32


def genesis_header(chain_id: str, genesis_time: int) -> block_pb2.BlockHeader:
    """The virtual genesis header (rule 2); its hash is GENESIS_HASH by definition."""
    return block_pb2.BlockHeader(
        schema_version=SCHEMA_VERSION, chain_id=chain_id, height=0, round=0,
        parent_hash=GENESIS_HASH, proposer="", tx_root=hashlib.sha256(b"").digest(),
        state_root_hint=GENESIS_HASH, timestamp=genesis_time, tx_count=0,
    )


def genesis_qc(chain_id: str) -> block_pb2.QuorumCert:
    """Rule 2: the certificate of the genesis block."""
    return block_pb2.QuorumCert(
        schema_version=SCHEMA_VERSION,
        vote_data=block_pb2.VoteData(
            schema_version=SCHEMA_VERSION, chain_id=chain_id, round=0, block_hash=GENESIS_HASH,
            height=0, parent_hash=GENESIS_HASH, parent_round=0,
        ),
    )


def _u64(value: int) -> bytes:
    return value.to_bytes(8, "big")


def proposal_bytes(chain_id: str, round_: int, hash_: bytes) -> bytes:
    """Rule 3, proposal."""
    return PROPOSAL_DOMAIN + chain_id.encode() + b"\x00" + _u64(round_) + hash_


def vote_bytes(vote_data: block_pb2.VoteData) -> bytes:
    """Rule 3, vote."""
    return VOTE_DOMAIN + encode(vote_data)


def timeout_bytes(chain_id: str, round_: int, high_qc_round: int) -> bytes:
    """Rule 3, timeout."""
    return TIMEOUT_DOMAIN + chain_id.encode() + b"\x00" + _u64(round_) + _u64(high_qc_round)


class CachingVerifier:
    """Ed25519 verification that remembers the last `size` valid (key, message, signature)
    triples, so a certificate seen in many messages is checked once. Invalid triples are not
    cached (a forger gains nothing by repeating them)."""

    def __init__(self, size: int = 4096, verify: Verify = verify_signature) -> None:
        self._size = size
        self._verify = verify
        self._ok: OrderedDict[tuple[bytes, bytes, bytes], None] = OrderedDict()
        self.checks = 0
        """Number of real signature verifications performed (for benchmarks)."""

    def __call__(self, pubkey: bytes, message: bytes, signature: bytes) -> bool:
        key = (pubkey, message, signature)
        if key in self._ok:
            self._ok.move_to_end(key)
            return True
        self.checks += 1
        if not self._verify(pubkey, message, signature):
            return False
        self._ok[key] = None
        if len(self._ok) > self._size:
            self._ok.popitem(last=False)
        return True
