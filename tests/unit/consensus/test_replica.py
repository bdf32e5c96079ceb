"""Replica state machine driven directly (no simulator): happy path, codec, crash-restart."""

from __future__ import annotations

import copy
from collections import deque
from typing import Any

from cybermesh.consensus import Outputs, Replica
from cybermesh.consensus.crypto import CachingVerifier, block_hash, proposal_bytes
from cybermesh.consensus.messages import wrap
from cybermesh.consensus.replica import VOTED_MARGIN
from cybermesh.consensus.safety_data import MemorySafetyStorage
from cybermesh.consensus.voted import MemoryVotedBlocks
from cybermesh.proto.v1 import consensus_pb2
from cybermesh.sim.keys import signing_key
from cybermesh.wire.strict import decode_strict, encode

from .builders import GENESIS, VS

Msg = consensus_pb2.ConsensusMessage


def replicas(storages: dict[str, MemorySafetyStorage] | None = None,
             sync_batch: int = 64) -> dict[str, Replica]:
    verify = CachingVerifier()
    return {v: Replica(GENESIS, v, signing_key(v), (storages or {}).get(v, MemorySafetyStorage()),
                       verify=verify, sync_batch=sync_batch) for v in VS.ids}


def drive(nodes: dict[str, Replica], first: dict[str, Outputs], steps: int,
          offline: frozenset[str] = frozenset(),
          votes: list[tuple[str, int]] | None = None) -> None:
    """FIFO delivery of every message, each through the strict codec; `offline` replicas
    neither send nor receive; `votes` (if given) collects (author, round) of every vote sent."""
    queue: deque[tuple[str, str, bytes]] = deque()

    def enqueue(src: str, out: Outputs) -> None:
        if src in offline:
            return
        for msg in out.broadcast:
            queue.extend((dst, src, encode(msg)) for dst in nodes if dst not in (src, *offline))
        queue.extend((dst, src, encode(msg)) for dst, msg in out.send if dst not in offline)
        if votes is not None:
            votes.extend((src, int(msg.vote.vote_data.round)) for _, msg in out.send
                         if msg.WhichOneof("body") == "vote")

    for src, out in first.items():
        enqueue(src, out)
    for _ in range(steps):
        if not queue:
            break
        dst, src, raw = queue.popleft()
        enqueue(dst, nodes[dst].on_message(src, decode_strict(Msg, raw), 0))


def test_four_replicas_commit_the_same_chain_with_verifiable_records() -> None:
    nodes = replicas()
    drive(nodes, {v: r.start(0) for v, r in nodes.items()}, 2000)
    ledgers = {v: [block_hash(c.block.header) for c in r.ledger] for v, r in nodes.items()}
    shortest = min(len(x) for x in ledgers.values())
    assert shortest >= 10
    assert len({tuple(x[:shortest]) for x in ledgers.values()}) == 1
    for record in nodes["v0"].ledger:
        VS.check_qc(record.qc, CachingVerifier())
        VS.check_qc(record.commit_qc, CachingVerifier())
        assert record.qc.vote_data.block_hash == block_hash(record.block.header)
        assert record.commit_qc.vote_data.round == record.commit_qc.vote_data.parent_round + 1


def test_invalid_messages_are_refused_with_a_reason() -> None:
    nodes = replicas()
    proposal = nodes["v1"].start(0).broadcast[0]
    forged = consensus_pb2.ConsensusMessage()
    forged.CopyFrom(proposal)
    forged.proposal.signature = bytes(64)
    assert nodes["v2"].on_message("v1", forged, 0).rejected == ("invalid_message",)
    assert nodes["v2"].on_message("v1", Msg(schema_version=1), 0).rejected == ("invalid_message",)
    wrong_leader = consensus_pb2.ConsensusMessage()
    wrong_leader.CopyFrom(proposal)
    wrong_leader.proposal.block.header.proposer = "v3"
    assert nodes["v2"].on_message("v3", wrong_leader, 0).rejected == ("invalid_message",)
    assert nodes["v2"].on_message("v1", proposal, 0).rejected == ()


def test_killed_between_persist_and_send_then_restarted_never_equivocates() -> None:
    storages = {v: MemorySafetyStorage() for v in VS.ids}
    nodes = replicas(storages)
    proposal = nodes["v1"].start(0).broadcast[0]  # v1 leads round 1
    saves = storages["v3"].saves
    lost = nodes["v3"].on_message("v1", proposal, 0)  # votes: persisted, then killed
    assert storages["v3"].saves == saves + 1 and lost.send  # the vote existed only in memory
    restarted = Replica(GENESIS, "v3", signing_key("v3"), storages["v3"], verify=CachingVerifier())
    restarted.start(0)
    # the same proposal again (a retransmission): the same vote, byte for byte
    again = restarted.on_message("v1", proposal, 0)
    assert [encode(m) for _, m in again.send] == [encode(m) for _, m in lost.send]
    # an equivocating twin proposal of round 1: no second, different vote
    twin = consensus_pb2.Proposal()
    twin.CopyFrom(proposal.proposal)
    twin.block.header.timestamp += 1
    twin.signature = signing_key("v1").sign(
        proposal_bytes(VS.chain_id, 1, block_hash(twin.block.header))).signature
    out = restarted.on_message("v1", wrap(twin), 0)
    votes = [m.vote for _, m in out.send if m.WhichOneof("body") == "vote"]
    assert all(encode(v) == encode(lost.send[0][1].vote) for v in votes)
    # and a timer of round 1 after the vote: a timeout, never a vote for another block
    timeout = restarted.on_timer(1, 10_000)
    assert [m.WhichOneof("body") for m in timeout.broadcast] == ["timeout"]


def test_a_replica_that_missed_many_blocks_catches_up_in_small_sync_batches() -> None:
    nodes = replicas(sync_batch=4)
    starts = {v: r.start(0) for v, r in nodes.items()}
    # v0 is offline: rounds it leads or collects votes for stall, so drive the others with
    # timers firing whenever the queue runs dry
    offline = frozenset({"v0"})
    pending = dict(starts)
    for _ in range(24):
        drive(nodes, pending, 300, offline)
        pending = {v: nodes[v].on_timer(nodes[v].round, 10**6) for v in nodes if v not in offline}
    behind = min(len(nodes[v].ledger) for v in ("v1", "v2", "v3"))
    assert behind >= 12 and len(nodes["v0"].ledger) == 0
    pending = {v: nodes[v].on_timer(nodes[v].round, 10**6) for v in nodes}
    for _ in range(6):
        drive(nodes, pending, 1500)
        pending = {v: nodes[v].on_timer(nodes[v].round, 10**6) for v in nodes}
    caught = [block_hash(c.block.header) for c in nodes["v0"].ledger]
    ahead = [block_hash(c.block.header) for c in nodes["v1"].ledger]
    assert len(caught) >= behind and caught == ahead[: len(caught)]


def test_a_payload_that_changes_consensus_fields_is_not_proposed() -> None:
    from cybermesh.consensus.payload import EmptyPayload
    from cybermesh.proto.v1 import block_pb2

    class Tampering(EmptyPayload):
        def build(self, template: block_pb2.BlockHeader,
                  parent: block_pb2.BlockHeader) -> block_pb2.Block:
            block = super().build(template, parent)
            block.header.height += 1
            return block

    leader = Replica(GENESIS, "v1", signing_key("v1"), MemorySafetyStorage(), payload=Tampering())
    out = leader.start(0)
    assert out.broadcast == () and out.rejected == ("invalid_payload",)


def test_a_proposal_with_a_malformed_header_is_refused_not_raised() -> None:
    nodes = replicas()
    proposal = nodes["v1"].start(0).broadcast[0]
    bad = consensus_pb2.ConsensusMessage()
    bad.CopyFrom(proposal)
    bad.proposal.block.header.state_root_hint = b"\x01"
    assert nodes["v2"].on_message("v1", bad, 0).rejected == ("invalid_message",)


def test_every_replica_restarted_at_once_goes_on_from_its_voted_blocks() -> None:
    storages = {v: MemorySafetyStorage() for v in VS.ids}
    voted = {v: MemoryVotedBlocks() for v in VS.ids}
    verify = CachingVerifier()

    def boot(safety: dict[str, MemorySafetyStorage], stores: dict[str, MemoryVotedBlocks],
             ledgers: dict[str, list[Any]]) -> dict[str, Replica]:
        return {v: Replica(GENESIS, v, signing_key(v), safety[v], verify=verify,
                           ledger=ledgers[v], voted=stores[v]) for v in VS.ids}

    def run(nodes: dict[str, Replica], rounds: int) -> None:
        pending = {v: r.start(0) for v, r in nodes.items()}
        for _ in range(rounds):
            drive(nodes, pending, 400)
            pending = {v: r.on_timer(r.round, 10**6) for v, r in nodes.items()}

    nodes = boot(storages, voted, {v: [] for v in VS.ids})
    drive(nodes, {v: r.start(0) for v, r in nodes.items()}, 250)  # then all crash at once
    committed = {v: r.committed_height for v, r in nodes.items()}
    assert min(committed.values()) >= 3
    # the certified blocks above the committed height existed only in the replicas' trees
    assert all(int(r.high_qc.vote_data.height) > r.committed_height for r in nodes.values())
    assert all(0 < len(voted[v]) <= VOTED_MARGIN + 4 for v in VS.ids)  # pruned with a margin
    ledgers = {v: list(r.ledger) for v, r in nodes.items()}

    # the driver had not made the last commits durable in any ledger when all died: the stored
    # proposals still connect to the shorter ledgers, and those heights are committed again
    short = {v: x[:-3] for v, x in ledgers.items()}
    relapsed = boot(copy.deepcopy(storages), copy.deepcopy(voted), short)
    run(relapsed, 12)
    assert min(r.committed_height for r in relapsed.values()) >= max(committed.values()) + 5
    for v, r in relapsed.items():
        assert [block_hash(c.block.header) for c in r.ledger[:len(ledgers[v])]] == \
            [block_hash(c.block.header) for c in ledgers[v]]

    # without the voted blocks nobody holds the block the high QC names: stalled for good
    stalled = boot(copy.deepcopy(storages), {v: MemoryVotedBlocks() for v in VS.ids}, ledgers)
    run(stalled, 12)
    assert {v: r.committed_height for v, r in stalled.items()} == committed

    # with them, the next leaders extend the certified blocks and commits resume
    restarted = boot(storages, voted, ledgers)
    run(restarted, 12)
    heights = {v: r.committed_height for v, r in restarted.items()}
    assert min(heights.values()) >= max(committed.values()) + 5, (committed, heights)
    chains = [[block_hash(c.block.header) for c in r.ledger] for r in restarted.values()]
    shortest = min(map(len, chains))
    assert all(c[:shortest] == chains[0][:shortest] for c in chains)


def test_only_a_new_vote_stores_its_proposal() -> None:
    voted = MemoryVotedBlocks()
    v3 = Replica(GENESIS, "v3", signing_key("v3"), MemorySafetyStorage(), verify=CachingVerifier(),
                 voted=voted)
    proposal = replicas()["v1"].start(0).broadcast[0]  # v1 leads round 1
    assert v3.on_message("v1", proposal, 0).send and voted.puts == 1
    v3.on_message("v1", proposal, 0)  # a retransmission: the same vote, nothing stored
    twin = consensus_pb2.Proposal()
    twin.CopyFrom(proposal.proposal)
    twin.block.header.timestamp += 1
    twin.signature = signing_key("v1").sign(
        proposal_bytes(VS.chain_id, 1, block_hash(twin.block.header))).signature
    v3.on_message("v1", wrap(twin), 0)  # an equivocating twin: no second vote, nothing stored
    assert voted.puts == 1 and [p.block.header.timestamp for p in voted.load()] == [
        proposal.proposal.block.header.timestamp]
