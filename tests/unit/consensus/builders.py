"""Small builders for consensus tests: blocks, QCs and TCs signed by the sim validators."""

from __future__ import annotations

from cybermesh.consensus.crypto import (
    GENESIS_HASH,
    SCHEMA_VERSION,
    block_hash,
    genesis_qc,
    timeout_bytes,
    vote_bytes,
)
from cybermesh.consensus.payload import EMPTY_TX_ROOT
from cybermesh.consensus.validators import ValidatorSet
from cybermesh.proto.v1 import block_pb2, consensus_pb2
from cybermesh.sim.keys import CHAIN_ID, signing_key, sim_genesis

GENESIS = sim_genesis(4)
VS = ValidatorSet.from_genesis(GENESIS)
GQC = genesis_qc(CHAIN_ID)


def make_block(parent: block_pb2.QuorumCert, round_: int, *, salt: int = 0) -> block_pb2.Block:
    """A block of `round_` extending the block `parent` certifies (proposer = round leader)."""
    vd = parent.vote_data
    header = block_pb2.BlockHeader(
        schema_version=SCHEMA_VERSION, chain_id=CHAIN_ID, height=vd.height + 1, round=round_,
        parent_hash=vd.block_hash, proposer=VS.leader(round_), tx_root=EMPTY_TX_ROOT,
        state_root_hint=bytes(32),
        timestamp=GENESIS.genesis_time + 10 * round_ + salt,
    )
    return block_pb2.Block(schema_version=SCHEMA_VERSION, header=header)


def make_qc(block: block_pb2.Block, parent: block_pb2.QuorumCert,
            signers: tuple[str, ...] = ("v0", "v1", "v2")) -> block_pb2.QuorumCert:
    h = block.header
    vd = block_pb2.VoteData(
        schema_version=SCHEMA_VERSION, chain_id=CHAIN_ID, round=h.round, block_hash=block_hash(h),
        height=h.height, parent_hash=h.parent_hash, parent_round=parent.vote_data.round)
    qc = block_pb2.QuorumCert(schema_version=SCHEMA_VERSION, vote_data=vd)
    for s in sorted(signers):
        qc.signatures.add(validator_id=s, signature=signing_key(s).sign(vote_bytes(vd)).signature)
    return qc


def make_tc(round_: int, high_qc: block_pb2.QuorumCert,
            signers: tuple[str, ...] = ("v0", "v1", "v2")) -> consensus_pb2.TimeoutCert:
    tc = consensus_pb2.TimeoutCert(schema_version=SCHEMA_VERSION, chain_id=CHAIN_ID,
                                   round=round_, high_qc=high_qc)
    r = high_qc.vote_data.round
    for s in sorted(signers):
        tc.signatures.add(validator_id=s, high_qc_round=r,
                          signature=signing_key(s).sign(timeout_bytes(CHAIN_ID, round_, r)).signature)
    return tc


def chain(rounds: list[int]) -> list[tuple[block_pb2.Block, block_pb2.QuorumCert]]:
    """Blocks at the given rounds, each extending the previous, with their QCs."""
    out = []
    qc = GQC
    for r in rounds:
        b = make_block(qc, r)
        qc_b = make_qc(b, qc)
        out.append((b, qc_b))
        qc = qc_b
    return out


__all__ = ["GENESIS", "GENESIS_HASH", "GQC", "VS", "chain", "make_block", "make_qc", "make_tc"]
