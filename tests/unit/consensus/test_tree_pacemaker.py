"""Block tree (insertion, paths, commit with pruning) and pacemaker (backoff, cap)."""

from __future__ import annotations

from cybermesh.consensus.crypto import GENESIS_HASH, block_hash, genesis_header
from cybermesh.consensus.pacemaker import Pacemaker, PacemakerConfig, Timer
from cybermesh.consensus.tree import BlockTree

from .builders import GENESIS, GQC, chain, make_block


def tree() -> BlockTree:
    return BlockTree(genesis_header(GENESIS.chain_id, GENESIS.genesis_time), GENESIS_HASH, GQC)


def test_commit_returns_the_path_and_prunes_forks() -> None:
    #           +- x1(r5)            (fork from genesis: pruned when b2 commits)
    # genesis <- b1(r1) <- b2(r2) <- b3(r3)
    #                   +- y2(r4)    (fork from b1: pruned)
    t = tree()
    (b1, qc1), (b2, qc2), (b3, _) = chain([1, 2, 3])
    x1 = make_block(GQC, 5)
    y2 = make_block(qc1, 4)
    for b in (b1, b2, b3, x1, y2):
        assert t.add(b) is not None
    orphan = make_block(qc2, 7)
    orphan.header.parent_hash = b"\x09" * 32
    assert t.add(orphan) is None  # unknown parent
    assert [b.header.round for b in t.path(block_hash(b3.header)) or []] == [1, 2, 3]
    committed = t.commit(block_hash(b2.header))
    assert [b.header.round for b in committed] == [1, 2]
    assert t.root_hash == block_hash(b2.header) and len(t) == 1
    assert block_hash(x1.header) not in t and block_hash(y2.header) not in t
    assert block_hash(b3.header) in t


def test_backoff_doubles_per_timed_out_round_and_is_capped() -> None:
    pm = Pacemaker(PacemakerConfig(base_ms=100, max_ms=1000), round_=1)
    assert pm.rearm(high_qc_round=0, now_ms=0) == Timer(1, 100)
    durations = []
    for r in range(1, 8):  # rounds 1..7 end with TCs: no QC since round 0
        timer = pm.advance(r, high_qc_round=0, now_ms=0)
        assert timer is not None
        durations.append(timer.at_ms)
    assert durations == [200, 400, 800, 1000, 1000, 1000, 1000]
    assert pm.advance(8, high_qc_round=8, now_ms=50) == Timer(9, 150)  # a QC resets it


def test_round_never_goes_back() -> None:
    pm = Pacemaker(PacemakerConfig(), round_=5)
    assert pm.advance(3, 3, 0) is None and pm.round == 5
