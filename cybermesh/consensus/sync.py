"""Fetching missing blocks with their certificates, and serving such requests.

Rules:

1. A replica asks for a block hash it needs (parent of a proposal, block certified by a QC,
   path to a commit) at most once at a time; the request goes first to the peer that referred
   to it, and on each local timeout it is re-sent to the next peer in id order.
2. A response carries up to `count` blocks, newest first, walking parent links through the
   tree and then the committed ledger, each with its QC; only the newest may lack one (the
   requester asked for it because it holds its QC); it stops at any other block without one.
3. Every received block is accepted only with a QC that certifies exactly it and verifies
   against the genesis validator set (its own, or one the requester already holds); blocks not yet connected to the tree wait as orphans
   (bounded) while their ancestors are fetched.
"""

from __future__ import annotations

from collections.abc import Mapping

from cybermesh.consensus.crypto import SCHEMA_VERSION
from cybermesh.consensus.tree import BlockTree
from cybermesh.proto.v1 import block_pb2, consensus_pb2

MAX_ORPHANS = 4096
MAX_BATCH = 256


class Syncer:
    def __init__(self, me: str, peers: tuple[str, ...], batch: int) -> None:
        self._me = me
        self._peers = tuple(p for p in peers if p != me)
        self.batch = min(batch, MAX_BATCH)
        self.inflight: dict[bytes, int] = {}
        """Requested hash -> attempts so far."""
        self.orphans: dict[bytes, consensus_pb2.CertifiedBlock] = {}

    def request(self, hash_: bytes, peer: str, chain_id: str) -> tuple[str, consensus_pb2.SyncRequest] | None:
        """Rule 1: the first request for `hash_`, or None if one is in flight."""
        if hash_ in self.inflight or not self._peers:
            return None
        self.inflight[hash_] = 0
        if peer == self._me:
            peer = self._peers[0]
        return peer, self._make(hash_, chain_id)

    def retries(self, chain_id: str) -> list[tuple[str, consensus_pb2.SyncRequest]]:
        """Rule 1: re-send every in-flight request to the next peer."""
        out = []
        for hash_ in sorted(self.inflight):
            attempt = self.inflight[hash_] + 1
            self.inflight[hash_] = attempt
            peer = self._peers[(hash_[0] + attempt) % len(self._peers)]
            out.append((peer, self._make(hash_, chain_id)))
        return out

    def _make(self, hash_: bytes, chain_id: str) -> consensus_pb2.SyncRequest:
        return consensus_pb2.SyncRequest(
            schema_version=SCHEMA_VERSION, chain_id=chain_id, block_hash=hash_, count=self.batch)

    def done(self, hash_: bytes) -> None:
        self.inflight.pop(hash_, None)

    def add_orphan(self, hash_: bytes, certified: consensus_pb2.CertifiedBlock) -> None:
        """Rule 3 (bounded buffer)."""
        if len(self.orphans) < MAX_ORPHANS:
            self.orphans.setdefault(hash_, certified)

    def prune(self, root_height: int) -> None:
        self.orphans = {h: c for h, c in self.orphans.items()
                        if c.block.header.height > root_height}


def certified(block: block_pb2.Block,
              qc: block_pb2.QuorumCert | None) -> consensus_pb2.CertifiedBlock:
    """A block with its QC (None only for the newest block of a response, rule 2)."""
    return consensus_pb2.CertifiedBlock(schema_version=SCHEMA_VERSION, block=block, qc=qc)


def serve(tree: BlockTree, committed: Mapping[bytes, block_pb2.CommittedBlock], hash_: bytes,
          count: int) -> consensus_pb2.SyncResponse:
    """Rule 2: up to `count` blocks from `hash_` down its ancestors (tree, then committed)."""
    resp = consensus_pb2.SyncResponse(schema_version=SCHEMA_VERSION, chain_id=tree.root.chain_id)
    for _ in range(count):
        block, qc = tree.block(hash_), tree.qc(hash_)
        if block is None and hash_ in committed:
            block, qc = committed[hash_].block, committed[hash_].qc
        if block is None or (qc is None and resp.blocks):
            break
        resp.blocks.append(certified(block, qc))
        hash_ = bytes(block.header.parent_hash)
    return resp
