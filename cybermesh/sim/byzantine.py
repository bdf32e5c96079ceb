"""Byzantine behaviours: a Byzantine validator runs an honest replica (to stay in step) and
rewrites what it hears and says, signing with its own key and no safety rules.

- equivocate: as leader, sends two different blocks for its round to two halves of the peers.
- fork (the attack vote rule 2 exists for): as leader of round s it withholds its proposal,
  whose QC(s-1) commits B(s-2); it joins the others' timeouts of round s-1 reporting an older
  QC, assembles their TC itself, then shows the proposal to one peer X only and sends the
  others (and its vote) a block of round s extending B(s-3) (conflicting with B(s-2), which X
  commits) with that TC. Vote rule 2 refuses it
  because the block's QC is older than the TC's highest QC; without that check two honest
  replicas commit different blocks at one height.
- double_vote: votes for every proposal it sees, besides its honest vote.
- unknown_votes: votes for random block hashes in the current and next rounds.
- silent: says nothing (a crashed validator that never recovers).
"""

from __future__ import annotations

import random

import nacl.signing

from cybermesh.consensus.crypto import (
    SCHEMA_VERSION,
    block_hash,
    proposal_bytes,
    timeout_bytes,
    vote_bytes,
)
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
        self._attack: tuple[int, str, consensus_pb2.Proposal] | None = None
        """(round s, peer X, withheld proposal) of a running fork attack."""
        self._timeouts: dict[str, consensus_pb2.Timeout] = {}
        self._quiet_below = 0
        """After a fork: say nothing honest until a proposal of this round is seen."""

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
        if kind == "timeout" and self._attack is not None:
            out += self._collect(msg.timeout)
        if kind != "proposal" or "silent" in self.behaviours:
            return out
        p = msg.proposal
        h = p.block.header
        if h.round >= self._quiet_below:
            self._quiet_below = 0
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
        if "silent" in self.behaviours or self._attack is not None or self._quiet_below:
            return []  # silent, or hiding QC(s-1) while a fork attack runs
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
        s = p.block.header.round
        if "fork" in self.behaviours and p.high_qc.vote_data.round + 1 == s \
                and s - 3 in self._qcs and s - 2 in self._qcs:
            self._attack = (s, peers[0], p)
            self._timeouts = {}
            return self._lie(s - 1)
        if "equivocate" in self.behaviours:
            other = self._variant(p, p.high_qc, p.block.header.timestamp + 1)
            cut = self._rng.randint(1, len(peers) - 1)
            halves: list[Send] = [(v, wrap(p)) for v in peers[:cut]]
            return halves + [(v, other) for v in peers[cut:]]
        return [(None, wrap(p))]

    def _lie(self, round_: int) -> list[Send]:
        """A timeout of `round_` reporting QC(round_ - 1) instead of our high QC."""
        qc = self._qcs[round_ - 1]
        t = consensus_pb2.Timeout(
            schema_version=SCHEMA_VERSION, chain_id=self._vs.chain_id, round=round_, high_qc=qc,
            author=self.author, signature=self._key.sign(timeout_bytes(
                self._vs.chain_id, round_, qc.vote_data.round)).signature)
        self._timeouts[self.author] = t
        return [(None, wrap(t))]

    def _collect(self, t: consensus_pb2.Timeout) -> list[Send]:
        """Gather the round s-1 timeouts; with a quorum, send the forked block with its TC."""
        assert self._attack is not None
        s, target, p = self._attack
        if t.round != s - 1 or t.high_qc.vote_data.round != s - 2:
            return []
        self._timeouts[t.author] = t
        if len(self._timeouts) < self._vs.quorum:
            return []
        self._attack = None
        self._quiet_below = s + 2
        tc = consensus_pb2.TimeoutCert(schema_version=SCHEMA_VERSION, chain_id=self._vs.chain_id,
                                       round=s - 1, high_qc=self._qcs[s - 2])
        for author in sorted(self._timeouts)[: self._vs.quorum]:
            tc.signatures.add(validator_id=author, high_qc_round=s - 2,
                              signature=self._timeouts[author].signature)
        fork = consensus_pb2.Proposal()
        fork.CopyFrom(p)
        fork.tc.CopyFrom(tc)
        other = self._variant(fork, self._qcs[s - 3], p.block.header.timestamp, keep_tc=True)
        h = other.proposal.block.header
        vote = self._vote(s, block_hash(h), h.height, bytes(h.parent_hash), s - 3)
        out: list[Send] = [(target, wrap(p)), (self._vs.leader(s + 1), vote)]
        return out + [(v, other) for v in self._vs.ids if v not in (self.author, target)]

    def _variant(self, p: consensus_pb2.Proposal, qc: block_pb2.QuorumCert, ts: int,
                 keep_tc: bool = False) -> Msg:
        q = consensus_pb2.Proposal()
        q.CopyFrom(p)
        q.high_qc.CopyFrom(qc)
        if not keep_tc:
            q.ClearField("tc")
        h = q.block.header
        h.parent_hash = qc.vote_data.block_hash
        h.height = qc.vote_data.height + 1
        h.timestamp = ts
        q.signature = self._key.sign(proposal_bytes(self._vs.chain_id, h.round, block_hash(h))).signature
        return wrap(q)
