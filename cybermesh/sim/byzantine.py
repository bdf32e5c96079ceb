"""Byzantine behaviours: a Byzantine validator runs an honest replica (to stay in step) and
rewrites what it hears and says, signing with its own key and no safety rules.

- equivocate: as leader, sends two different blocks for its round to two halves of the peers.
- fork: as leader, sends the honest block to one peer and to the others a block extending an
  older QC (two rounds below its high QC), which the vote rule must refuse.
- double_vote: votes for every proposal it sees, besides its honest vote.
- unknown_votes: votes for random block hashes in the current and next rounds.
- silent: says nothing (a crashed validator that never recovers).
"""

from __future__ import annotations

import random

import nacl.signing

from cybermesh.consensus.crypto import SCHEMA_VERSION, block_hash, proposal_bytes, vote_bytes
from cybermesh.consensus.messages import wrap
from cybermesh.consensus.validators import ValidatorSet
from cybermesh.proto.v1 import block_pb2, consensus_pb2

Msg = consensus_pb2.ConsensusMessage
Send = tuple[str | None, Msg]  # (destination, or None for everyone, message)


class Adversary:
    def __init__(self, author: str, behaviours: tuple[str, ...], key: nacl.signing.SigningKey,
                 validators: ValidatorSet, rng: random.Random) -> None:
        self.author = author
        self.behaviours = frozenset(behaviours)
        self._key = key
        self._vs = validators
        self._rng = rng
        self._qcs: dict[int, block_pb2.QuorumCert] = {}

    def observe(self, msg: Msg) -> list[Send]:
        """Extra messages provoked by an incoming message."""
        kind = msg.WhichOneof("body")
        qc = None
        if kind == "proposal":
            qc = msg.proposal.high_qc
        elif kind == "timeout":
            qc = msg.timeout.high_qc
        if qc is not None:
            self._qcs.setdefault(qc.vote_data.round, qc)
        out: list[Send] = []
        if kind != "proposal" or "silent" in self.behaviours:
            return out
        p = msg.proposal
        h = p.block.header
        leader = self._vs.leader(h.round + 1)
        if "double_vote" in self.behaviours:
            out.append((leader, self._vote(h.round, block_hash(h), h.height, bytes(h.parent_hash),
                                           p.high_qc.vote_data.round)))
        if "unknown_votes" in self.behaviours:
            r = h.round + self._rng.randint(0, 2)
            out.append((self._vs.leader(r + 1), self._vote(
                r, self._rng.randbytes(32), h.height + 1, self._rng.randbytes(32), r - 1)))
        return out

    def _vote(self, round_: int, hash_: bytes, height: int, parent: bytes, parent_round: int) -> Msg:
        vd = block_pb2.VoteData(schema_version=SCHEMA_VERSION, chain_id=self._vs.chain_id,
                                round=round_, block_hash=hash_, height=height,
                                parent_hash=parent, parent_round=parent_round)
        return wrap(consensus_pb2.Vote(schema_version=SCHEMA_VERSION, vote_data=vd,
                                       author=self.author,
                                       signature=self._key.sign(vote_bytes(vd)).signature))

    def rewrite(self, sends: list[Send]) -> list[Send]:
        """Rewrite the honest replica's outputs."""
        if "silent" in self.behaviours:
            return []
        out: list[Send] = []
        for dest, msg in sends:
            if dest is None and msg.WhichOneof("body") == "proposal":
                out += self._split(msg.proposal)
            else:
                out.append((dest, msg))
        return out

    def _split(self, p: consensus_pb2.Proposal) -> list[Send]:
        peers = [v for v in self._vs.ids if v != self.author]
        self._rng.shuffle(peers)
        other = None
        if "fork" in self.behaviours:
            other = self._fork(p)
        if other is None and "equivocate" in self.behaviours:
            other = self._variant(p, p.high_qc, p.block.header.timestamp + 1)
        if other is None:
            return [(None, wrap(p))]
        cut = 1 if "fork" in self.behaviours else self._rng.randint(1, len(peers) - 1)
        return [(v, wrap(p)) for v in peers[:cut]] + [(v, other) for v in peers[cut:]]

    def _fork(self, p: consensus_pb2.Proposal) -> Msg | None:
        limit = p.high_qc.vote_data.round - 2
        older = [r for r in self._qcs if r <= limit]
        if not older:
            return None
        return self._variant(p, self._qcs[max(older)], p.block.header.timestamp)

    def _variant(self, p: consensus_pb2.Proposal, qc: block_pb2.QuorumCert, ts: int) -> Msg:
        q = consensus_pb2.Proposal()
        q.CopyFrom(p)
        q.high_qc.CopyFrom(qc)
        q.ClearField("tc")
        h = q.block.header
        h.parent_hash = qc.vote_data.block_hash
        h.height = qc.vote_data.height + 1
        h.timestamp = ts
        q.signature = self._key.sign(proposal_bytes(self._vs.chain_id, h.round, block_hash(h))).signature
        return wrap(q)
