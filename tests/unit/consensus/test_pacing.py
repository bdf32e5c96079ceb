"""Proposal pacing (replica rules P1-P2): an idle chain does not spin empty blocks, a block with
transactions is never delayed, and neither is the commit of one."""

from __future__ import annotations

import hashlib

from cybermesh.consensus import Outputs, Replica
from cybermesh.consensus.crypto import CachingVerifier
from cybermesh.consensus.payload import EMPTY_TX_ROOT
from cybermesh.consensus.safety_data import MemorySafetyStorage
from cybermesh.proto.v1 import block_pb2
from cybermesh.sim.keys import signing_key

from .builders import GENESIS, VS
from .test_replica import drive

DELAY = 250


class QueuePayload:
    """Blocks carry one tx per queued item (a shared queue: "the mempool")."""

    def __init__(self, queue: list[bytes]) -> None:
        self.queue = queue

    def build(self, template: block_pb2.BlockHeader, parent: block_pb2.BlockHeader) -> block_pb2.Block:
        block = block_pb2.Block(schema_version=1)
        block.header.CopyFrom(template)
        for raw in self.queue:
            block.txs.add(schema_version=1, kind=1, raw=raw)
        block.header.tx_count = len(self.queue)
        block.header.tx_root = hashlib.sha256(b"".join(self.queue)).digest() if self.queue else EMPTY_TX_ROOT
        block.header.state_root_hint = bytes(32)
        return block

    def verify(self, block: block_pb2.Block, parent: block_pb2.BlockHeader) -> bool:
        return block.header.tx_count == len(block.txs)


def network(queue: list[bytes], delay: int = DELAY) -> dict[str, Replica]:
    verify = CachingVerifier()
    return {v: Replica(GENESIS, v, signing_key(v), MemorySafetyStorage(), verify=verify,
                       payload=QueuePayload(queue), empty_block_delay_ms=delay) for v in VS.ids}


def proposals(out: Outputs) -> list[int]:
    return [m.proposal.block.header.round for m in out.broadcast if m.WhichOneof("body") == "proposal"]


def test_an_idle_leader_holds_its_empty_block_until_the_delay_has_passed() -> None:
    nodes = network([])
    leader = VS.leader(1)
    first = nodes[leader].start(1_000)
    assert proposals(first) == []
    assert nodes[leader].wants_tick
    assert proposals(nodes[leader].tick(1_000 + DELAY - 1)) == []
    out = nodes[leader].tick(1_000 + DELAY)
    assert proposals(out) == [1]
    assert not nodes[leader].wants_tick
    assert proposals(nodes[leader].tick(1_000 + DELAY + 5)) == []  # once per round


def test_transactions_arriving_during_the_hold_are_proposed_at_once() -> None:
    queue: list[bytes] = []
    nodes = network(queue)
    leader = VS.leader(1)
    assert proposals(nodes[leader].start(0)) == []
    queue.append(b"tx-1")
    out = nodes[leader].tick(10)
    assert proposals(out) == [1]
    assert out.broadcast[0].proposal.block.header.tx_count == 1


def test_followers_never_hold_and_a_zero_delay_never_holds() -> None:
    nodes = network([])
    assert not any(r.wants_tick for v, r in nodes.items() if v != VS.leader(1))
    eager = network([], delay=0)
    assert proposals(eager[VS.leader(1)].start(0)) == [1]


def test_the_two_blocks_after_a_block_with_txs_are_proposed_at_once_so_it_commits() -> None:
    queue = [b"tx-1"]
    nodes = network(queue)
    leader = VS.leader(1)
    first = {leader: nodes[leader].start(0)}
    assert proposals(first[leader]) == [1]
    queue.clear()
    for v, r in nodes.items():
        if v != leader:
            r.start(0)
    drive(nodes, first, 10_000)  # every message at now = 0: only P1 lets rounds 2 and 3 propose
    for r in nodes.values():
        assert [c.block.header.tx_count for c in r.ledger][:1] == [1], "block 1 is committed everywhere"
        assert all(c.block.header.tx_count == 0 for c in r.ledger[1:])
    held = [r for r in nodes.values() if r.wants_tick]
    assert len(held) == 1 and held[0].round == 4
