"""Builders for state tests: a started StateMachine over the in-memory store."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from cybermesh.block import build_block
from cybermesh.genesis import Genesis, parse_genesis
from cybermesh.proto.v1 import block_pb2
from cybermesh.state import MemoryNodeStore, VersionedTree
from cybermesh.state import sample as s
from cybermesh.state.machine import StateMachine

T0 = s.GENESIS_TIME


def genesis_with(extra_producers: Sequence[dict[str, Any]] = (), **params: int) -> Genesis:
    doc = s.sample_genesis(params=params or None).to_json()
    doc["producers"] += [
        {"producer_id": e["producer_id"], "pubkey": bytes(s.key(e["producer_id"]).verify_key).hex(),
         "topics": e["topics"], "roles": e["roles"]}
        for e in extra_producers
    ]
    return parse_genesis(doc)


def new_machine(genesis: Genesis | None = None) -> StateMachine:
    m = StateMachine(VersionedTree(MemoryNodeStore()), genesis or s.sample_genesis())
    m.start()
    return m


def raw_block(m: StateMachine, txs: list[block_pb2.Tx], ts: int | None = None) -> block_pb2.Block:
    """A block with exactly `txs` (no proposer filtering), child of m's last block."""
    ts = ts if ts is not None else m.parent.timestamp + 1_000
    return build_block(m.parent, txs, "v0", m.parent.height + 1, ts, m.tree.root(), m.genesis.chain_id, m.limits)


def run(m: StateMachine, txs: list[block_pb2.Tx], ts: int | None = None):  # type: ignore[no-untyped-def]
    """Execute and commit a block of exactly `txs`; return the Execution."""
    block = raw_block(m, txs, ts)
    ex = m.execute(block)
    m.commit(block, ex)
    return ex


@pytest.fixture
def machine() -> StateMachine:
    return new_machine()


@pytest.fixture
def make_machine() -> Callable[..., StateMachine]:
    return new_machine
