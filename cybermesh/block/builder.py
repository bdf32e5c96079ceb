"""Deterministic block builder (docs/BLOCKS.md). Pure: time comes in as an argument."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from cybermesh.block.hashing import EMPTY_TX_ROOT, ZERO_HASH, block_hash, tx_root
from cybermesh.block.limits import BlockLimits
from cybermesh.proto.v1 import block_pb2
from cybermesh.wire.topics import CURRENT_SCHEMA_VERSION


class BuildError(ValueError):
    """The builder was asked for a block that could not be valid; carries the values."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def genesis_header(chain_id: str, genesis_time: int) -> block_pb2.BlockHeader:
    """The height-0 pseudo-header: the parent of block 1 (never a real block).

    Its timestamp is genesis_time; block 1 links to it with `parent_hash` = 32 zero bytes.
    """
    return block_pb2.BlockHeader(
        schema_version=CURRENT_SCHEMA_VERSION,
        chain_id=chain_id,
        height=0,
        round=0,
        parent_hash=ZERO_HASH,
        proposer="",
        tx_root=EMPTY_TX_ROOT,
        state_root_hint=ZERO_HASH,
        timestamp=genesis_time,
        tx_count=0,
    )


def parent_link(parent: block_pb2.BlockHeader) -> bytes:
    """The `parent_hash` a child of `parent` carries: zeros for height 0, else its hash."""
    return ZERO_HASH if parent.height == 0 else block_hash(parent)


def next_timestamp(parent_timestamp: int, now_ms: int, limits: BlockLimits) -> int:
    """The timestamp a proposer should use: its clock, clamped into the valid window.

    The window is (parent, parent + max_interval_ms]; after a long halt the chain's time
    catches up with the clock by at most max_interval_ms per block.
    """
    return max(parent_timestamp + 1, min(now_ms, parent_timestamp + limits.max_interval_ms))


def select_txs(selection: Iterable[block_pb2.Tx], limits: BlockLimits) -> list[block_pb2.Tx]:
    """Rules of inclusion, in `selection` order:

    1. a tx whose (kind, raw) repeats an earlier one is skipped;
    2. a tx that would push the payload bytes (sum of len(raw)) over max_bytes is skipped;
    3. selection stops once max_txs are taken.
    """
    taken: list[block_pb2.Tx] = []
    seen: set[bytes] = set()
    size = 0
    for tx in selection:
        if len(taken) >= limits.max_txs:
            break
        digest = hashlib.sha256(tx.raw).digest()
        if digest in seen or size + len(tx.raw) > limits.max_bytes:
            continue
        seen.add(digest)
        size += len(tx.raw)
        taken.append(tx)
    return taken


def build_block(
    parent: block_pb2.BlockHeader,
    selection: Iterable[block_pb2.Tx],
    proposer: str,
    round: int,
    timestamp: int,
    state_root_hint: bytes,
    chain_id: str,
    limits: BlockLimits,
    state_root_height: int | None = None,
) -> block_pb2.Block:
    """The child block of `parent` holding `select_txs(selection, limits)`.

    `state_root_hint` is the proposer's state root at `state_root_height` (default
    `parent.height`: the root after the parent); a pipelined proposer passes its last
    committed height and root (lagged hint, docs/BLOCKS.md rule L).

    NOTE: `selection` should already be filtered for block validity against the parent's
    state (`cybermesh.state.filter_txs`); this builder only enforces block-level limits.
    Raises BuildError if `timestamp` is outside (parent.timestamp, parent + max_interval_ms].
    """
    if timestamp <= parent.timestamp:
        raise BuildError("ts_not_after_parent", f"timestamp {timestamp} <= parent {parent.timestamp}")
    if timestamp > parent.timestamp + limits.max_interval_ms:
        raise BuildError("ts_too_far", f"timestamp {timestamp} > parent {parent.timestamp} + {limits.max_interval_ms}")
    txs = select_txs(selection, limits)
    header = block_pb2.BlockHeader(
        schema_version=CURRENT_SCHEMA_VERSION,
        chain_id=chain_id,
        height=parent.height + 1,
        round=round,
        parent_hash=parent_link(parent),
        proposer=proposer,
        tx_root=tx_root(txs),
        state_root_hint=state_root_hint,
        timestamp=timestamp,
        tx_count=len(txs),
        state_root_height=parent.height if state_root_height is None else state_root_height,
    )
    return block_pb2.Block(schema_version=CURRENT_SCHEMA_VERSION, header=header, txs=txs)
