"""Builders for ledger tests: a certified chain executed by the state core, with QCs signed by
the sample validators' consensus keys (cybermesh.state.sample: v0..v3, key "v<i>/consensus")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cybermesh.block.hashing import block_hash
from cybermesh.consensus.crypto import genesis_qc, vote_bytes
from cybermesh.genesis import Genesis
from cybermesh.proto.v1 import block_pb2
from cybermesh.state import MemoryNodeStore, VersionedTree
from cybermesh.state import sample as s
from cybermesh.state.machine import StateMachine
from cybermesh.wire.strict import encode

GENESIS = s.sample_genesis()


def sign_qc(block: block_pb2.Block, parent_round: int, signers: Sequence[str] = ("v0", "v1", "v2")) -> block_pb2.QuorumCert:
    h = block.header
    vd = block_pb2.VoteData(
        schema_version=1, chain_id=h.chain_id, round=h.round, block_hash=block_hash(h),
        height=h.height, parent_hash=h.parent_hash, parent_round=parent_round,
    )
    qc = block_pb2.QuorumCert(schema_version=1, vote_data=vd)
    for v in sorted(signers):
        qc.signatures.add(validator_id=v, signature=s.key(f"{v}/consensus").sign(vote_bytes(vd)).signature)
    return qc


@dataclass(frozen=True)
class Chain:
    records: list[bytes]
    """Encoded CommittedBlock per height 1..n (index h-1)."""
    committed: list[block_pb2.CommittedBlock]
    roots: list[bytes]
    """State root after each block (index h-1); roots[-1] is the final root."""
    genesis_root: bytes


def certified_chain(rounds: Sequence[int], per_block: int = 3, genesis: Genesis = GENESIS) -> Chain:
    """Blocks at `rounds` (increasing), executed by a fresh StateMachine on `workload` txs, each
    with its QC and its two-chain commit QC. Extra empty blocks at the next rounds are built
    (not published) to commit the tail."""
    m = StateMachine(VersionedTree(MemoryNodeStore()), genesis)
    genesis_root = m.start()

    all_rounds = [*rounds, rounds[-1] + 1, rounds[-1] + 2]
    blocks: list[block_pb2.Block] = []
    qcs: list[block_pb2.QuorumCert] = []
    roots: list[bytes] = []
    parent_round = genesis_qc(genesis.chain_id).vote_data.round
    for i, r in enumerate(all_rounds):
        h = i + 1
        ts = s.GENESIS_TIME + h * 2_000
        txs = s.workload(h, per_block, ts) if i < len(rounds) else []
        block, _ = m.propose(txs, f"v{r % 4}", r, ts)
        roots.append(m.commit(block, m.execute(block)))
        blocks.append(block)
        qcs.append(sign_qc(block, parent_round))
        parent_round = r
    committed = []
    for i in range(len(rounds)):
        j = next(j for j in range(i + 1, len(all_rounds)) if all_rounds[j] == all_rounds[j - 1] + 1)
        committed.append(block_pb2.CommittedBlock(schema_version=1, block=blocks[i], qc=qcs[i], commit_qc=qcs[j]))
    return Chain([encode(c) for c in committed], committed, roots[: len(rounds)], genesis_root)


def resign(c: block_pb2.CommittedBlock, parent_round: int) -> block_pb2.CommittedBlock:
    """`c` with its qc re-signed for its (possibly modified) block."""
    out = block_pb2.CommittedBlock()
    out.CopyFrom(c)
    out.qc.CopyFrom(sign_qc(c.block, parent_round))
    return out
