"""CommitPipeline on the real LedgerStore (RocksDB in tmp) and an in-memory state tree."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from cybermesh.block import block_hash
from cybermesh.node.commit import CommitPipeline, DivergenceError, NodeMetrics
from cybermesh.node.outputs import (
    BlockOutputs,
    decode_outputs,
    encode_outputs,
    event_key,
    height_key,
    records,
)
from cybermesh.node.payload import NodePayload
from cybermesh.proto.v1 import block_pb2
from cybermesh.state import sample as s
from cybermesh.stores.ledger import LedgerOrderError, LedgerStore
from cybermesh.wire import topics
from tests.unit.node.test_payload import Chain, a, new_machine, template


def committed(block: block_pb2.Block) -> block_pb2.CommittedBlock:
    return block_pb2.CommittedBlock(schema_version=1, block=block)


def evidence_tx() -> block_pb2.Tx:
    return s.evidence("analyst-0", "e1", ["a1"], s.GENESIS_TIME + 500, 1)


def make(tmp_path: Path, pool: list[block_pb2.Tx]):  # type: ignore[no-untyped-def]
    m, chain = new_machine(), Chain()
    payload = NodePayload(m, lambda n: pool[:n], chain.get)
    removed: list[bytes] = []
    pipe = CommitPipeline(payload, LedgerStore(tmp_path / "ledger"), remove_txs=removed.extend,
                          metrics=NodeMetrics(CollectorRegistry()), validator_id="v1",
                          clock_ms=lambda: s.GENESIS_TIME + 10_000)
    return m, chain, payload, pipe, removed


def test_commit_executes_persists_in_order_and_is_idempotent(tmp_path: Path) -> None:
    m, chain, payload, pipe, removed = make(tmp_path, [a(1), a(2), evidence_tx()])
    b1 = chain.add(payload.build(template(m.parent, 1), m.parent))
    b2 = chain.add(payload.build(template(b1.header, 2), b1.header))
    assert b1.header.tx_count == 3 and b2.header.tx_count == 0
    pipe.on_commit([committed(b1), committed(b2)])
    pipe.on_commit([committed(b1)])  # again: skipped
    assert (m.height, pipe.ledger.top, pipe.ledger.emitted) == (2, 2, 0)
    assert sorted(removed) == sorted(hashlib.sha256(t.raw).digest() for t in b1.txs)
    assert payload.cache == {}
    assert pipe.ledger.block(2) == committed(b2) and block_hash(b2.header) == decode_outputs(
        pipe.ledger.outputs(2) or b"").block_hash
    out = decode_outputs(pipe.ledger.outputs(1) or b"")
    assert out.height == 1 and [e.topic for e in out.events][-1] == topics.CONTROL_EVIDENCE
    recs = records(pipe.ledger.block(1) or committed(b1), out, m.tree.root(1), "v1")
    assert recs[0][:2] == (topics.LEDGER_BLOCKS, height_key(1))
    assert recs[1][1] == event_key(1, 0) and recs[-1][0] == topics.CONTROL_COMMITS
    rec = pipe.projection_record(1)
    assert rec is not None and rec.height == 1
    assert pipe.projection_record(3) is None
    assert [b.block.header.height for b in pipe.ledger.recent(10)] == [1, 2]


def test_divergent_hint_halts_with_alarm(tmp_path: Path) -> None:
    m, chain, payload, pipe, _ = make(tmp_path, [a(1)])
    b1 = chain.add(payload.build(template(m.parent, 1), m.parent))
    pipe.on_commit([committed(b1)])
    bad = payload.build(template(b1.header, 2), b1.header)
    bad.header.state_root_hint = bytes(32)  # certified, but not our root at height 1
    with pytest.raises(DivergenceError, match="state_root_mismatch"):
        pipe.on_commit([committed(bad)])
    assert m.height == 1 and pipe.ledger.top == 1
    assert pipe.metrics is not None and pipe.metrics.divergence._value.get() == 1


def test_recover_executes_ledger_heights_above_the_state(tmp_path: Path) -> None:
    m, chain, payload, pipe, _ = make(tmp_path, [a(1)])
    b1 = chain.add(payload.build(template(m.parent, 1), m.parent))
    ex = payload.execute_committed(b1)
    pipe.ledger.append(1, committed(b1).SerializeToString(deterministic=True), encode_outputs(BlockOutputs.of(ex)))
    assert m.height == 0  # crashed before the state commit
    assert pipe.recover() == 1 and m.height == 1
    with pytest.raises(LedgerOrderError):
        pipe.ledger.append(3, b"", b"")


def test_outputs_roundtrip_is_canonical() -> None:
    m = new_machine()
    block, _ = m.propose([a(1), a(2), evidence_tx()], "v0", 1, s.GENESIS_TIME + 1_000)
    out = BlockOutputs.of(m.execute(block))
    raw = encode_outputs(out)
    back = decode_outputs(raw)
    assert encode_outputs(back) == raw and back.changes == out.changes and back.receipts == out.receipts
    with pytest.raises(ValueError, match="trailing"):
        decode_outputs(raw + b"\x00")
