"""Rejoin detection: `Replica.heard_of_height` and the watchdog rules (consensus/rejoin.py)."""

from __future__ import annotations

from cybermesh.consensus import Replica
from cybermesh.consensus.crypto import CachingVerifier, block_hash, timeout_bytes
from cybermesh.consensus.messages import wrap
from cybermesh.consensus.rejoin import RejoinPolicy, Watch, attempted, is_stuck, observe, start
from cybermesh.consensus.safety_data import MemorySafetyStorage
from cybermesh.consensus.sync import certified
from cybermesh.proto.v1 import block_pb2, consensus_pb2
from cybermesh.sim.keys import CHAIN_ID, signing_key

from .builders import GENESIS, VS, chain
from .test_replica import drive

Msg = consensus_pb2.ConsensusMessage


def replica(v: str = "v0", storage: MemorySafetyStorage | None = None, **kw: object) -> Replica:
    return Replica(GENESIS, v, signing_key(v), storage or MemorySafetyStorage(),
                   verify=CachingVerifier(), **kw)  # type: ignore[arg-type]


def timeout_msg(author: str, round_: int, high_qc: object) -> Msg:
    t = consensus_pb2.Timeout(schema_version=1, chain_id=CHAIN_ID, round=round_, high_qc=high_qc,
                              author=author)
    t.signature = signing_key(author).sign(
        timeout_bytes(CHAIN_ID, round_, t.high_qc.vote_data.round)).signature
    return wrap(t)


# ------------------------------------------------------------------ heard_of_height


def test_a_fresh_replica_has_heard_of_nothing_above_its_committed_height() -> None:
    r = replica()
    r.start(0)
    assert (r.committed_height, r.heard_of_height) == (0, 0)


def test_a_qc_for_a_block_it_lacks_raises_heard_of_height_not_committed_height() -> None:
    blocks = chain(list(range(1, 11)))  # heights 1..10, rounds 1..10
    r = replica()
    r.start(0)
    out = r.on_message("v1", timeout_msg("v1", 11, blocks[-1][1]), 0)
    assert out.rejected == ()
    assert r.committed_height == 0
    assert r.heard_of_height == 10
    assert [m.WhichOneof("body") for _, m in out.send] == ["sync_request"]


def test_certified_orphans_from_sync_count_as_heard_of() -> None:
    blocks = chain(list(range(1, 21)))
    r = replica()
    r.start(0)
    resp = consensus_pb2.SyncResponse(schema_version=1, chain_id=CHAIN_ID)
    for b, qc in reversed(blocks[12:16]):  # heights 16..13, newest first, no high_qc
        resp.blocks.append(certified(b, qc))
    out = r.on_message("v2", wrap(resp), 0)
    assert out.rejected == ()
    assert r.committed_height == 0
    assert r.heard_of_height == 16


def test_a_forged_qc_raises_nothing() -> None:
    blocks = chain([1, 2, 3, 4, 5])
    bad = block_pb2.QuorumCert()
    bad.CopyFrom(blocks[-1][1])
    bad.signatures[0].signature = bytes(64)
    r = replica()
    r.start(0)
    out = r.on_message("v1", timeout_msg("v1", 6, bad), 0)
    assert out.rejected == ("invalid_certificate",)
    assert r.heard_of_height == 0


# ------------------------------------------------------------------ a stuck replica, and a fresh one

def rounds(nodes: dict[str, Replica], n: int, offline: frozenset[str] = frozenset(),
           votes: list[tuple[str, int]] | None = None) -> None:
    for _ in range(n):
        pending = {v: nodes[v].on_timer(nodes[v].round, 10**6) for v in nodes if v not in offline}
        drive(nodes, pending, 1500, offline, votes)


def test_a_replica_behind_its_peers_window_is_stuck_and_a_fresh_one_rejoins_without_double_votes() -> None:
    """v0 misses 20+ blocks while peers keep 5: sync cannot serve it, its committed height stands
    still while heard_of_height follows the peers. A fresh replica built from the recent ledger
    (what catch-up from the block log leaves behind) and the SAME safety storage commits the
    peers' chain again and never votes in a round it already voted or timed out in."""
    storages = {v: MemorySafetyStorage() for v in VS.ids}
    verify = CachingVerifier()
    nodes = {v: Replica(GENESIS, v, signing_key(v), storages[v], verify=verify, sync_batch=4,
                        keep_committed=5) for v in VS.ids}
    first = {v: r.start(0) for v, r in nodes.items()}
    drive(nodes, first, 1500, frozenset({"v0"}))
    rounds(nodes, 30, frozenset({"v0"}))
    assert nodes["v1"].committed_height >= 20 and nodes["v0"].committed_height == 0
    rounds(nodes, 6)  # v0 is back: it hears of the others' QCs but cannot fetch the blocks
    v0 = nodes["v0"]
    assert v0.committed_height == 0, "sync should not reach below the peers' window"
    assert is_stuck(RejoinPolicy(10_000), v0.committed_height, v0.heard_of_height)
    assert v0.heard_of_height >= nodes["v1"].committed_height
    last_voted = storages["v0"].load().last_voted_round
    assert last_voted > 0  # v0 timed out in the rounds it heard of (recorded durably)

    fresh = Replica(GENESIS, "v0", signing_key("v0"), storages["v0"], verify=verify, sync_batch=4,
                    keep_committed=5, ledger=list(nodes["v1"].ledger))
    assert fresh.safety.data.last_voted_round == last_voted
    nodes["v0"] = fresh
    votes: list[tuple[str, int]] = []
    drive(nodes, {"v0": fresh.start(0)}, 1500, votes=votes)
    rounds(nodes, 10, votes=votes)
    mine = [r for a, r in votes if a == "v0"]
    assert mine and min(mine) > last_voted
    assert fresh.committed_height > nodes["v1"].ledger[0].block.header.height
    peer = {c.block.header.height: block_hash(c.block.header) for c in nodes["v1"].ledger}
    common = [c for c in fresh.ledger if c.block.header.height in peer]
    assert common and all(block_hash(c.block.header) == peer[c.block.header.height] for c in common)
    assert not is_stuck(RejoinPolicy(10_000), fresh.committed_height, fresh.heard_of_height)


# ------------------------------------------------------------------ watchdog rules

P = RejoinPolicy(after_ms=10_000, margin=3, cap_factor=4)


def test_rule_1_a_gap_within_the_margin_is_not_stuck() -> None:
    assert not is_stuck(P, 100, 103)
    assert is_stuck(P, 100, 104)


def test_rule_2_due_only_after_the_committed_height_stood_still_for_the_wait() -> None:
    w = start(P, 5, 0)
    w, due = observe(P, w, 5, 50, 9_999)
    assert not due
    w, due = observe(P, w, 5, 50, 10_000)
    assert due and w == Watch(5, 0, 10_000)


def test_rule_2_progress_restarts_the_clock() -> None:
    w = start(P, 5, 0)
    w, due = observe(P, w, 6, 50, 9_000)
    assert not due and w.since_ms == 9_000
    _, due = observe(P, w, 6, 50, 18_999)
    assert not due
    _, due = observe(P, w, 6, 50, 19_000)
    assert due


def test_rule_2_not_stuck_is_never_due_however_long_it_stands_still() -> None:
    w = start(P, 5, 0)
    _, due = observe(P, w, 5, 7, 10**9)  # a stalled network: nobody has anything newer
    assert not due


def test_rule_3_futile_attempts_double_the_wait_up_to_the_cap_and_progress_resets_it() -> None:
    w = start(P, 5, 0)
    waits = []
    now = 10_000
    for _ in range(5):
        w, due = observe(P, w, 5, 50, now)
        assert due
        now += 100
        w = attempted(P, w, 5, 0, now)
        waits.append(w.wait_ms)
        _, early = observe(P, w, 5, 50, now + w.wait_ms - 1)
        assert not early
        now += w.wait_ms
    assert waits == [20_000, 40_000, 40_000, 40_000, 40_000]
    w = attempted(P, w, 30, 25, now)
    assert w == Watch(30, now, 10_000)
    w = attempted(P, Watch(5, 0, 40_000), 5, 0, 1)
    w, _ = observe(P, w, 6, 50, 2)
    assert w.wait_ms == 10_000


def test_rule_4_zero_disables() -> None:
    off = RejoinPolicy(after_ms=0)
    w = start(off, 5, 0)
    _, due = observe(off, w, 5, 10**6, 10**9)
    assert not due and not off.enabled
