"""Block shape validity: what can be checked from the block and its parent alone. Pure.

Transaction validity against state (signatures, producers, replays) is
`cybermesh.state.execute_block`'s job.
"""

from __future__ import annotations

import hashlib

from cybermesh.block.builder import parent_link
from cybermesh.block.hashing import HASH_LEN, tx_root
from cybermesh.block.limits import BlockLimits
from cybermesh.proto.v1 import block_pb2
from cybermesh.wire.topics import SUPPORTED_SCHEMA_VERSIONS, TOPIC_BY_TX_KIND


class BlockShapeError(ValueError):
    """A block that is invalid whatever the state. `reason` is a stable code (see rules)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _check_header(block: block_pb2.Block, parent: block_pb2.BlockHeader, chain_id: str, limits: BlockLimits) -> None:
    h = block.header
    if block.schema_version not in SUPPORTED_SCHEMA_VERSIONS or h.schema_version not in SUPPORTED_SCHEMA_VERSIONS:
        raise BlockShapeError("bad_schema", f"schema_version block={block.schema_version} header={h.schema_version}")
    if h.chain_id != chain_id:
        raise BlockShapeError("wrong_chain", f"chain_id {h.chain_id!r} != {chain_id!r}")
    if h.height != parent.height + 1:
        raise BlockShapeError("wrong_height", f"height {h.height} != parent {parent.height} + 1")
    for name in ("parent_hash", "tx_root", "state_root_hint"):
        if len(getattr(h, name)) != HASH_LEN:
            raise BlockShapeError("bad_hash_length", f"{name} is {len(getattr(h, name))} bytes")
    if h.parent_hash != parent_link(parent):
        raise BlockShapeError("wrong_parent", f"parent_hash {h.parent_hash.hex()} != {parent_link(parent).hex()}")
    if h.timestamp <= parent.timestamp:
        raise BlockShapeError("ts_not_after_parent", f"timestamp {h.timestamp} <= parent {parent.timestamp}")
    if h.timestamp > parent.timestamp + limits.max_interval_ms:
        raise BlockShapeError(
            "ts_too_far", f"timestamp {h.timestamp} > parent {parent.timestamp} + {limits.max_interval_ms}"
        )


def _check_txs(block: block_pb2.Block, limits: BlockLimits) -> None:
    h = block.header
    if h.tx_count != len(block.txs):
        raise BlockShapeError("tx_count_mismatch", f"tx_count {h.tx_count} != {len(block.txs)} txs")
    if len(block.txs) > limits.max_txs:
        raise BlockShapeError("too_many_txs", f"{len(block.txs)} > max_txs {limits.max_txs}")
    size = sum(len(tx.raw) for tx in block.txs)
    if size > limits.max_bytes:
        raise BlockShapeError("too_many_bytes", f"{size} > max_bytes {limits.max_bytes}")
    seen: dict[bytes, int] = {}
    for i, tx in enumerate(block.txs):
        if tx.schema_version not in SUPPORTED_SCHEMA_VERSIONS or tx.kind not in TOPIC_BY_TX_KIND:
            raise BlockShapeError("bad_tx", f"tx {i}: schema_version {tx.schema_version}, kind {tx.kind}")
        digest = hashlib.sha256(tx.raw).digest()
        if digest in seen:
            raise BlockShapeError("duplicate_tx", f"tx {i} repeats tx {seen[digest]} ({digest.hex()})")
        seen[digest] = i
    root = tx_root(block.txs)
    if h.tx_root != root:
        raise BlockShapeError("tx_root_mismatch", f"tx_root {h.tx_root.hex()} != computed {root.hex()}")


def validate_block_shape(
    block: block_pb2.Block,
    parent: block_pb2.BlockHeader,
    chain_id: str,
    limits: BlockLimits,
    state_root_hint: bytes | None = None,
) -> None:
    """Raise BlockShapeError unless every rule holds (checked in this order):

    1. schema versions supported (`bad_schema`); 2. `chain_id` matches (`wrong_chain`);
    3. height = parent.height + 1 (`wrong_height`); 4. hashes are 32 bytes (`bad_hash_length`);
    5. parent_hash = parent_link(parent) (`wrong_parent`);
    6. parent.timestamp < timestamp (`ts_not_after_parent`) <= parent.timestamp +
       max_interval_ms (`ts_too_far`);
    7. tx_count = len(txs) (`tx_count_mismatch`), len(txs) <= max_txs (`too_many_txs`),
       sum(len(raw)) <= max_bytes (`too_many_bytes`);
    8. every tx has a supported schema_version and a known kind (`bad_tx`), no two txs share
       a tx hash (`duplicate_tx`);
    9. tx_root matches (`tx_root_mismatch`);
    10. parent.state_root_height <= state_root_height <= parent.height (`bad_hint_height`):
        the hint is the proposer's committed root at some height not above the parent's and
        never older than the parent's hint (lagged deferred execution, rule L of BLOCKS.md);
    11. if `state_root_hint` is given, the header carries it (`state_root_mismatch`) — the
        caller passes its own root at `block.header.state_root_height`.
    """
    _check_header(block, parent, chain_id, limits)
    _check_txs(block, limits)
    hint = block.header.state_root_hint
    lag = block.header.state_root_height
    if not parent.state_root_height <= lag <= parent.height:
        raise BlockShapeError(
            "bad_hint_height",
            f"state_root_height {lag} not in [parent's {parent.state_root_height}, parent height {parent.height}]",
        )
    if state_root_hint is not None and hint != state_root_hint:
        raise BlockShapeError("state_root_mismatch", f"state_root_hint {hint.hex()} != local {state_root_hint.hex()}")
