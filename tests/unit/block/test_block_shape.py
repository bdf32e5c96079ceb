"""Block hashing, tx root, builder and shape validation (cybermesh.block)."""

from __future__ import annotations

import hashlib

import pytest

from cybermesh.block import (
    EMPTY_TX_ROOT,
    ZERO_HASH,
    BlockLimits,
    BlockShapeError,
    BuildError,
    block_hash,
    build_block,
    genesis_header,
    header_bytes,
    merkle_root,
    next_timestamp,
    tx_leaf,
    tx_root,
    validate_block_shape,
)
from cybermesh.proto.v1 import block_pb2

CHAIN = "test-chain"
LIMITS = BlockLimits(max_txs=4, max_bytes=100, max_interval_ms=10_000)


def H(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def make_tx(i: int, size: int = 10) -> block_pb2.Tx:
    return block_pb2.Tx(schema_version=1, kind=block_pb2.TX_KIND_ANOMALY, raw=bytes([i]) * size)


def make_block(parent: block_pb2.BlockHeader | None = None, txs: list[block_pb2.Tx] | None = None, ts: int | None = None) -> block_pb2.Block:
    parent = parent or genesis_header(CHAIN, 1_000)
    return build_block(parent, txs or [], "v0", 1, ts or parent.timestamp + 1, bytes(32), CHAIN, LIMITS)


def test_tx_root_shapes_follow_rfc6962_with_our_leaves() -> None:
    txs = [make_tx(i) for i in range(5)]
    leaves = [tx_leaf(t) for t in txs]
    assert leaves[0] == H(b"\x00" + (1).to_bytes(4, "big") + H(txs[0].raw))
    node = lambda a, b: H(b"\x01" + a + b)  # noqa: E731
    assert tx_root([]) == EMPTY_TX_ROOT == H(b"")
    assert tx_root(txs[:1]) == leaves[0]
    assert tx_root(txs[:2]) == node(leaves[0], leaves[1])
    # 3: split at 2, the odd leaf is NOT duplicated
    assert tx_root(txs[:3]) == node(node(leaves[0], leaves[1]), leaves[2])
    assert tx_root(txs[:5]) == node(node(node(leaves[0], leaves[1]), node(leaves[2], leaves[3])), leaves[4])
    # no duplication ambiguity: [a, b, c] and [a, b, c, c] differ
    assert merkle_root(leaves[:3]) != merkle_root([*leaves[:3], leaves[2]])


def test_tx_leaf_commits_to_kind() -> None:
    a = make_tx(1)
    b = block_pb2.Tx(schema_version=1, kind=block_pb2.TX_KIND_POLICY, raw=a.raw)
    assert tx_leaf(a) != tx_leaf(b)


def test_header_hash_is_domain_separated_and_covers_every_field() -> None:
    block = make_block(txs=[make_tx(1)])
    h = block.header
    assert header_bytes(h).startswith(b"cybermesh/v1/block-header\x00")
    assert block_hash(h) == H(header_bytes(h))
    base = block_hash(h)
    changes = {
        "chain_id": "other", "height": 2, "round": 9, "parent_hash": b"\x01" * 32, "proposer": "v1",
        "tx_root": b"\x02" * 32, "state_root_hint": b"\x03" * 32, "timestamp": 5, "tx_count": 7,
        "schema_version": 2,
    }
    for name, value in changes.items():
        other = block_pb2.BlockHeader()
        other.CopyFrom(h)
        setattr(other, name, value)
        assert block_hash(other) != base, name


def test_builder_links_parent_and_respects_limits() -> None:
    b1 = make_block(txs=[make_tx(1)])
    assert b1.header.height == 1 and b1.header.parent_hash == ZERO_HASH
    txs = [make_tx(2, 30), make_tx(2, 30), make_tx(3, 50), make_tx(4, 30), make_tx(5, 10), make_tx(6, 5), make_tx(7, 1)]
    b2 = make_block(parent=b1.header, txs=txs)
    # duplicate skipped; (30 + 50 = 80) then 30 would exceed 100 -> skipped; 10 fits; 5 fits; max_txs 4
    assert [t.raw[0] for t in b2.txs] == [2, 3, 5, 6]
    assert b2.header.parent_hash == block_hash(b1.header)
    assert b2.header.tx_count == 4 and b2.header.tx_root == tx_root(b2.txs)
    validate_block_shape(b2, b1.header, CHAIN, LIMITS)


def test_builder_refuses_bad_timestamps_and_next_timestamp_clamps() -> None:
    parent = genesis_header(CHAIN, 1_000)
    with pytest.raises(BuildError) as err:
        make_block(parent, ts=1_000)
    assert err.value.reason == "ts_not_after_parent"
    with pytest.raises(BuildError):
        make_block(parent, ts=1_000 + 10_001)
    assert next_timestamp(1_000, 500, LIMITS) == 1_001
    assert next_timestamp(1_000, 5_000, LIMITS) == 5_000
    assert next_timestamp(1_000, 10**9, LIMITS) == 11_000


def _mutated(block: block_pb2.Block, **fields: object) -> block_pb2.Block:
    out = block_pb2.Block()
    out.CopyFrom(block)
    for name, value in fields.items():
        setattr(out.header, name, value)
    return out


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"chain_id": "x"}, "wrong_chain"),
        ({"height": 3}, "wrong_height"),
        ({"parent_hash": b"\x09" * 32}, "wrong_parent"),
        ({"parent_hash": b"\x09"}, "bad_hash_length"),
        ({"timestamp": 1_000}, "ts_not_after_parent"),
        ({"timestamp": 1_000 + 10_001}, "ts_too_far"),
        ({"tx_count": 1}, "tx_count_mismatch"),
        ({"tx_root": b"\x07" * 32}, "tx_root_mismatch"),
        ({"schema_version": 9}, "bad_schema"),
    ],
)
def test_shape_violations_are_named(fields: dict[str, object], reason: str) -> None:
    parent = genesis_header(CHAIN, 1_000)
    block = make_block(parent, txs=[make_tx(1), make_tx(2)])
    validate_block_shape(block, parent, CHAIN, LIMITS)
    with pytest.raises(BlockShapeError) as err:
        validate_block_shape(_mutated(block, **fields), parent, CHAIN, LIMITS)
    assert err.value.reason == reason


def test_shape_limits_duplicates_and_hint() -> None:
    parent = genesis_header(CHAIN, 1_000)
    block = make_block(parent, txs=[make_tx(1)])
    dup = block_pb2.Block()
    dup.CopyFrom(block)
    dup.txs.append(make_tx(1))
    dup.header.tx_count = 2
    dup.header.tx_root = tx_root(dup.txs)
    with pytest.raises(BlockShapeError, match="duplicate_tx"):
        validate_block_shape(dup, parent, CHAIN, LIMITS)
    big = block_pb2.Block()
    big.CopyFrom(block)
    big.txs.extend([make_tx(i) for i in range(2, 6)])
    big.header.tx_count = 5
    big.header.tx_root = tx_root(big.txs)
    with pytest.raises(BlockShapeError, match="too_many_txs"):
        validate_block_shape(big, parent, CHAIN, LIMITS)
    with pytest.raises(BlockShapeError, match="too_many_bytes"):
        validate_block_shape(block, parent, CHAIN, BlockLimits(max_bytes=5))
    with pytest.raises(BlockShapeError, match="state_root_mismatch"):
        validate_block_shape(block, parent, CHAIN, LIMITS, state_root_hint=b"\x01" * 32)


def test_limits_from_genesis_params() -> None:
    limits = BlockLimits.from_params([("block_max_txs", 7), ("quarantine_threshold", -1)])
    assert limits.max_txs == 7 and limits.max_bytes == BlockLimits().max_bytes
    with pytest.raises(ValueError, match="block_max_bytes"):
        BlockLimits.from_params([("block_max_bytes", 0)])


def test_lagged_hint_height_is_bounded_by_parent_and_parents_hint() -> None:
    b1 = make_block()
    b2 = build_block(b1.header, [], "v0", 2, b1.header.timestamp + 1, bytes(32), CHAIN, LIMITS, state_root_height=0)
    assert b2.header.state_root_height == 0 and make_block(b1.header).header.state_root_height == 1
    validate_block_shape(b2, b1.header, CHAIN, LIMITS)  # lag 0 <= parent height 1
    b3 = build_block(b2.header, [], "v0", 3, b2.header.timestamp + 1, bytes(32), CHAIN, LIMITS, state_root_height=1)
    validate_block_shape(b3, b2.header, CHAIN, LIMITS)
    too_high = _mutated(b3, state_root_height=3)
    with pytest.raises(BlockShapeError, match="bad_hint_height"):
        validate_block_shape(too_high, b2.header, CHAIN, LIMITS)
    parent = block_pb2.BlockHeader()
    parent.CopyFrom(b2.header)
    parent.state_root_height = 2  # a child may not report an older hint than its parent
    regressed = build_block(parent, [], "v0", 3, parent.timestamp + 1, bytes(32), CHAIN, LIMITS, state_root_height=1)
    with pytest.raises(BlockShapeError, match="bad_hint_height"):
        validate_block_shape(regressed, parent, CHAIN, LIMITS)
    assert block_hash(b3.header) != block_hash(_mutated(b3, state_root_height=0).header)  # hashed
