"""Aggregation of votes into QCs and of timeouts into TCs (signatures already verified).

Rules:

1. One vote and one timeout per author and round count; a second, different vote of the same
   author in a round (double voting) is ignored and reported.
2. A QC forms when 2f+1 distinct authors voted for identical vote data; it carries exactly
   2f+1 signatures, the smallest validator ids first (canonical).
3. A TC forms when 2f+1 distinct authors timed out in the round; it carries exactly 2f+1
   signatures (smallest ids first) and the highest QC among those signers' timeouts.
4. Rounds below the `prune` round are forgotten.
"""

from __future__ import annotations

from cybermesh.consensus.crypto import SCHEMA_VERSION
from cybermesh.proto.v1 import block_pb2, consensus_pb2
from cybermesh.wire.strict import encode


class VoteCollector:
    def __init__(self, quorum: int) -> None:
        self._quorum = quorum
        self._by_author: dict[int, dict[str, bytes]] = {}
        self._sigs: dict[int, dict[bytes, dict[str, bytes]]] = {}
        self._done: set[bytes] = set()

    def add(self, vote: consensus_pb2.Vote) -> tuple[block_pb2.QuorumCert | None, bool]:
        """Rules 1-2; returns (the new QC or None, whether the vote was a double vote)."""
        round_, key = vote.vote_data.round, encode(vote.vote_data)
        seen = self._by_author.setdefault(round_, {})
        if vote.author in seen:
            return None, seen[vote.author] != key
        seen[vote.author] = key
        sigs = self._sigs.setdefault(round_, {}).setdefault(key, {})
        sigs[vote.author] = bytes(vote.signature)
        if len(sigs) < self._quorum or key in self._done:
            return None, False
        self._done.add(key)
        qc = block_pb2.QuorumCert(schema_version=SCHEMA_VERSION, vote_data=vote.vote_data)
        for author in sorted(sigs)[: self._quorum]:
            qc.signatures.add(validator_id=author, signature=sigs[author])
        return qc, False

    def prune(self, round_: int) -> None:
        """Rule 4."""
        for r in [r for r in self._by_author if r < round_]:
            del self._by_author[r]
            for key in self._sigs.pop(r, {}):
                self._done.discard(key)


class TimeoutCollector:
    def __init__(self, quorum: int) -> None:
        self._quorum = quorum
        self._timeouts: dict[int, dict[str, consensus_pb2.Timeout]] = {}
        self._done: set[int] = set()

    def count(self, round_: int) -> int:
        return len(self._timeouts.get(round_, {}))

    def add(self, timeout: consensus_pb2.Timeout) -> consensus_pb2.TimeoutCert | None:
        """Rules 1 and 3; returns the new TC or None."""
        got = self._timeouts.setdefault(timeout.round, {})
        if timeout.author in got:
            return None
        got[timeout.author] = timeout
        if len(got) < self._quorum or timeout.round in self._done:
            return None
        self._done.add(timeout.round)
        tc = consensus_pb2.TimeoutCert(
            schema_version=SCHEMA_VERSION, chain_id=timeout.chain_id, round=timeout.round)
        for author in sorted(got)[: self._quorum]:
            t = got[author]
            tc.signatures.add(validator_id=author, high_qc_round=t.high_qc.vote_data.round,
                              signature=t.signature)
        chosen = [got[a] for a in sorted(got)[: self._quorum]]
        best = max(chosen, key=lambda t: t.high_qc.vote_data.round)
        tc.high_qc.CopyFrom(best.high_qc)
        return tc

    def prune(self, round_: int) -> None:
        """Rule 4."""
        for r in [r for r in self._timeouts if r < round_]:
            del self._timeouts[r]
            self._done.discard(r)
