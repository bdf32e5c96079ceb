"""NodePayload: leader build and follower verify on the speculative (pipelined) state.

Chains are drawn oldest-left; `c` marks the committed tip, `*` the pending (certified,
uncommitted) blocks the overlay executes speculatively:

    genesis(c) ── B1* ── B2*  ── child?
"""

from __future__ import annotations

from cybermesh.block import block_hash, build_block
from cybermesh.node.payload import NodePayload, Overlay
from cybermesh.proto.v1 import block_pb2
from cybermesh.state import MemoryNodeStore, VersionedTree
from cybermesh.state import sample as s
from cybermesh.state.machine import StateMachine

T0 = s.GENESIS_TIME


def new_machine() -> StateMachine:
    m = StateMachine(VersionedTree(MemoryNodeStore()), s.sample_genesis())
    m.start()
    return m


class Chain:
    """The replica's block lookup, as a dict."""

    def __init__(self) -> None:
        self.blocks: dict[bytes, block_pb2.Block] = {}

    def add(self, block: block_pb2.Block) -> block_pb2.Block:
        self.blocks[block_hash(block.header)] = block
        return block

    def get(self, hash_: bytes) -> block_pb2.Block | None:
        return self.blocks.get(hash_)


def template(parent: block_pb2.BlockHeader, round_: int, proposer: str = "v1") -> block_pb2.BlockHeader:
    from cybermesh.block import parent_link

    return block_pb2.BlockHeader(
        schema_version=1, chain_id=s.CHAIN_ID, height=parent.height + 1, round=round_,
        parent_hash=parent_link(parent), proposer=proposer, timestamp=parent.timestamp + 1_000,
    )


def child(m: StateMachine, parent: block_pb2.BlockHeader, txs: list[block_pb2.Tx], lag: int = 0) -> block_pb2.Block:
    return build_block(parent, txs, "v1", parent.height + 1, parent.timestamp + 1_000, m.tree.root(lag),
                       s.CHAIN_ID, m.limits, state_root_height=lag)


def a(i: int) -> block_pb2.Tx:
    return s.anomaly("det-0", f"a{i}", f"host-{i % 3}", 5, 5000, T0 + 500, i)


def test_overlay_reads_newest_layer_first_and_deletions() -> None:
    base = {b"k": b"0", b"d": b"x"}
    o = Overlay(base, [{b"k": b"1"}, {b"k": b"2", b"d": None}])  # type: ignore[arg-type]
    assert (o.get(b"k"), o.get(b"d"), o.get(b"missing")) == (b"2", None, None)


def test_tx_in_pending_ancestor_makes_child_invalid_and_leader_skips_it() -> None:
    m, chain = new_machine(), Chain()
    pool = [a(1), a(2), a(3)]
    p = NodePayload(m, lambda n: pool[:n], chain.get)
    b1 = chain.add(child(m, m.parent, [a(1)]))
    assert p.verify(b1, m.parent)
    b2 = chain.add(child(m, b1.header, [a(2)]))
    assert p.verify(b2, b1.header)
    # a follower: a child repeating a tx of the pending B1 is invalid (nothing committed yet)
    bad = child(m, b2.header, [a(1)])
    assert not p.verify(bad, b2.header)
    assert p.rejections == {"already_committed": 1}
    # a fresh tx on top of the pending chain is valid
    ok = child(m, b2.header, [a(3)])
    assert p.verify(ok, b2.header)
    # the leader (whose mempool still holds a1, a2) builds only a3 on top of B2
    built = p.build(template(b2.header, 3), b2.header)
    assert [bytes(t.raw) for t in built.txs] == [bytes(a(3).raw)]
    assert built.header.state_root_height == 0 and built.header.state_root_hint == m.tree.root(0)


def test_unknown_ancestor_is_not_voted_for() -> None:
    m = new_machine()
    p = NodePayload(m, lambda n: [], Chain().get)
    b1 = child(m, m.parent, [a(1)])
    b2 = child(m, b1.header, [a(2)])  # B1 never seen
    assert not p.verify(b2, b1.header)
    assert p.rejections == {"missing_ancestor": 1}


def test_hint_is_checked_when_the_height_is_committed_and_at_commit() -> None:
    m, chain = new_machine(), Chain()
    p = NodePayload(m, lambda n: [], chain.get)
    b1 = chain.add(child(m, m.parent, [a(1)]))
    assert p.verify(b1, m.parent)
    m.commit(b1, p.execute_committed(b1))
    p.forget_upto(1)
    # a hint of height 1 that is not our root at 1: refused at vote time
    wrong = child(m, b1.header, [a(2)], lag=1)
    wrong.header.state_root_hint = m.tree.root(0)
    assert not p.verify(wrong, b1.header)
    assert p.rejections == {"state_root_mismatch": 1}
    right = child(m, b1.header, [a(2)], lag=1)
    assert p.verify(right, b1.header)
    # a hint height above the parent is a shape error
    ahead = child(m, b1.header, [a(2)], lag=1)
    ahead.header.state_root_height = 2
    assert not p.verify(ahead, b1.header)
    assert p.rejections["bad_hint_height"] == 1


def test_lagged_hint_unknown_at_vote_is_caught_at_commit() -> None:
    """A follower that has not committed the hint height yet votes; commit-time check halts."""
    import pytest

    from cybermesh.block import BlockShapeError

    leader, follower, chain = new_machine(), new_machine(), Chain()
    p = NodePayload(follower, lambda n: [], chain.get)
    b1 = chain.add(child(leader, leader.parent, [a(1)]))
    ex = leader.execute(b1)
    leader.commit(b1, ex)
    b2 = chain.add(child(leader, b1.header, [a(2)], lag=1))
    b2_bad = child(leader, b1.header, [a(3)], lag=1)
    b2_bad.header.state_root_hint = bytes(32)  # wrong root at height 1
    assert p.verify(b1, follower.parent)
    assert p.verify(b2_bad, b1.header)  # height 1 not committed here: cannot check yet
    follower.commit(b1, p.execute_committed(b1))
    assert p.execute_committed(b2).height == 2
    with pytest.raises(BlockShapeError, match="state_root_mismatch"):
        p.execute_committed(b2_bad)


def test_cached_execution_equals_fresh_execution_at_commit() -> None:
    m, chain = new_machine(), Chain()
    pool = [a(i) for i in range(1, 6)]
    p = NodePayload(m, lambda n: pool[:n], chain.get)
    b1 = chain.add(p.build(template(m.parent, 1), m.parent))
    assert b1.header.tx_count == 5
    b2 = chain.add(p.build(template(b1.header, 2), b1.header))
    assert b2.header.tx_count == 0  # everything is already in the pending B1
    fresh = new_machine()
    for b in (b1, b2):
        ex = p.execute_committed(b)
        assert ex == fresh.execute(b)
        m.commit(b, ex)
        fresh.commit(b, ex)
        p.forget_upto(b.header.height)
    assert m.tree.root() == fresh.tree.root() and p.cache == {}


def test_build_failure_returns_an_empty_block() -> None:
    m = new_machine()
    p = NodePayload(m, lambda n: [], Chain().get)
    orphan = child(m, m.parent, [])
    assert p.build(template(orphan.header, 2), orphan.header) == block_pb2.Block()


def test_payload_module_is_pure() -> None:
    from pathlib import Path

    from tests.unit.test_purity import FORBIDDEN, _imports

    path = Path(__file__).resolve().parents[3] / "cybermesh" / "node" / "payload.py"
    bad = [m for _, m in _imports(path) if m.split(".")[0] in FORBIDDEN or m.startswith(
        ("cybermesh.agents", "cybermesh.stores", "cybermesh.p2p", "cybermesh.storage", "cybermesh.app"))]
    assert bad == []


def test_build_reports_candidates_already_committed_but_not_those_only_pending() -> None:
    """Rule 7: a tx committed on the committed state is reported for mempool removal; a tx in a
    pending (uncommitted) block is not: a fork could still drop that block."""
    import hashlib

    m, chain = new_machine(), Chain()
    pool = [a(1), a(2), a(3)]
    reported: list[list[bytes]] = []
    p = NodePayload(m, lambda n: pool[:n], chain.get)
    p.on_committed_candidates = reported.append
    b1 = chain.add(child(m, m.parent, [a(1)]))
    assert p.verify(b1, m.parent)
    m.commit(b1, p.execute_committed(b1))
    p.forget_upto(1)
    b2 = chain.add(child(m, b1.header, [a(2)]))
    assert p.verify(b2, b1.header)  # pending, not committed
    built = p.build(template(b2.header, 3), b2.header)
    assert [bytes(t.raw) for t in built.txs] == [bytes(a(3).raw)]
    assert reported == [[hashlib.sha256(a(1).raw).digest()]]
