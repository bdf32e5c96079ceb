"""Safety rules: the only code that signs votes, timeouts and proposals (Jolteon / 2-chain).

Narrow interface: `sign_proposal`, `vote`, `timeout`, the `data` property, and the module
function `committed_by` (the 2-chain commit rule). Order inside every signing method:
verify -> update safety data -> persist (`SafetyStorage.save`, durable) -> sign -> return.
Votes and timeouts are stored unsigned; Ed25519 (RFC 8032) is deterministic, so a repeated
request for the same round re-signs the stored one and returns byte-identical output.

Certificates handed in are re-verified here against the genesis validator set (rule 0 of each
method): the caller is not trusted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import nacl.signing

from cybermesh.consensus.crypto import (
    SCHEMA_VERSION,
    Verify,
    block_hash,
    proposal_bytes,
    timeout_bytes,
    vote_bytes,
    well_formed,
)
from cybermesh.consensus.errors import (
    InvalidMessage,
    NotSafeToPropose,
    NotSafeToTimeout,
    NotSafeToVote,
)
from cybermesh.consensus.safety_data import SafetyData, SafetyStorage
from cybermesh.consensus.validators import ValidatorSet
from cybermesh.proto.v1 import block_pb2, consensus_pb2


def committed_by(qc: block_pb2.QuorumCert) -> bytes | None:
    """The 2-chain commit rule: a QC on block B' whose parent B has round B'.round - 1
    commits B (B has a QC: the one B' carries). Returns B's hash, or None.

    The genesis block (height 0) is committed by definition and never returned.
    """
    vd = qc.vote_data
    if vd.round == vd.parent_round + 1 and vd.height > 1:
        return bytes(vd.parent_hash)
    return None


def _tc_rounds(tc: consensus_pb2.TimeoutCert | None) -> tuple[int, int]:
    if tc is None:
        return 0, 0
    return tc.round, tc.high_qc.vote_data.round


class SafetyRules:
    """Signs for `author` with `key`; remembers what it signed in `storage`."""

    def __init__(self, validators: ValidatorSet, author: str, key: nacl.signing.SigningKey,
                 storage: SafetyStorage, verify: Verify) -> None:
        if validators.keys.get(author) != bytes(key.verify_key):
            raise ValueError(f"{author!r} is not a validator with this consensus key")
        self._validators = validators
        self._author = author
        self._key = key
        self._storage = storage
        self._verify = verify
        loaded = storage.load()
        if loaded is not None and loaded.chain_id != validators.chain_id:
            raise ValueError(f"safety data of chain {loaded.chain_id!r}, not {validators.chain_id!r}")
        self._data = loaded or SafetyData(chain_id=validators.chain_id)

    @property
    def data(self) -> SafetyData:
        return self._data

    def _check_certificates(self, kind: str, round_: int, block: block_pb2.Block | None,
                            qc: block_pb2.QuorumCert,
                            tc: consensus_pb2.TimeoutCert | None) -> None:
        """Rule 0: certificates verify; the QC certifies the block's parent; the TC is older."""
        self._validators.check_qc(qc, self._verify)
        if tc is not None:
            self._validators.check_tc(tc, self._verify)
            if tc.round >= round_:
                raise InvalidMessage(kind, round_, f"0: tc round {tc.round} >= {round_}")
        if block is None:
            return
        h, vd = block.header, qc.vote_data
        if not well_formed(h):
            raise InvalidMessage(kind, round_, "0: header hashes are not 32 bytes")
        if h.chain_id != self._validators.chain_id or h.parent_hash != vd.block_hash \
                or h.height != vd.height + 1 or h.round <= vd.round:
            raise InvalidMessage(kind, round_, "0: qc does not certify the parent of the block")

    def _observe_qc(self, data: SafetyData, qc: block_pb2.QuorumCert) -> SafetyData:
        vd = qc.vote_data
        high = data.high_qc
        return replace(
            data,
            one_chain_round=max(data.one_chain_round, vd.round),
            preferred_round=max(data.preferred_round, vd.parent_round),
            high_qc=qc if high is None or vd.round > high.vote_data.round else high,
        )

    def _save(self, data: SafetyData) -> None:
        self._storage.save(data)
        self._data = data

    def sign_proposal(self, block: block_pb2.Block, qc: block_pb2.QuorumCert,
                      tc: consensus_pb2.TimeoutCert | None) -> bytes:
        """Sign `block` as its proposer when

        0. the header is well formed, the certificates verify and `qc` certifies the block's parent
           (and the proposer is us);
        1. block.round > last_voted_round (never propose in a round already voted/timed out in);
        2. block.round == qc.round + 1, or block.round == tc.round + 1 and
           qc.round >= tc.high_qc.round (the block extends the highest QC the TC reports).

        NOTE: nothing is persisted; the replica votes for its own block (which persists
        last_voted_round) before it releases the proposal, so a restart cannot re-propose.
        """
        round_ = block.header.round
        if block.header.proposer != self._author:
            raise InvalidMessage("proposal", round_, f"0: proposer {block.header.proposer!r}")
        self._check_certificates("proposal", round_, block, qc, tc)
        qc_round, (tc_round, hqc_round) = qc.vote_data.round, _tc_rounds(tc)
        if round_ <= self._data.last_voted_round:
            raise NotSafeToPropose(1, round_, qc_round, tc_round, self._data.last_voted_round)
        if not (round_ == qc_round + 1 or (round_ == tc_round + 1 and qc_round >= hqc_round)):
            raise NotSafeToPropose(2, round_, qc_round, tc_round, self._data.last_voted_round)
        message = proposal_bytes(self._validators.chain_id, round_, block_hash(block.header))
        return self._key.sign(message).signature

    def safe_to_vote(self, round_: int, qc_round: int,
                     tc: consensus_pb2.TimeoutCert | None) -> None:
        """Vote rules; raise NotSafeToVote(rule, ...).

        1. round > last_voted_round: at most one vote per round, and none in a round this
           replica has timed out in.
        2. round == qc_round + 1 (the block extends the previous round's QC), or
           round == tc_round + 1 and qc_round >= tc.high_qc.round (after a timeout, the block
           extends a QC at least as high as any of the 2f+1 timeouts reported). This keeps a
           possibly committed block (QC at r and r+1) from being bypassed.
        """
        tc_round, hqc_round = _tc_rounds(tc)
        last = self._data.last_voted_round
        if round_ <= last:
            raise NotSafeToVote(1, round_, qc_round, tc_round, hqc_round, last)
        if not (round_ == qc_round + 1 or (round_ == tc_round + 1 and qc_round >= hqc_round)):
            raise NotSafeToVote(2, round_, qc_round, tc_round, hqc_round, last)

    def vote(self, block: block_pb2.Block, qc: block_pb2.QuorumCert,
             tc: consensus_pb2.TimeoutCert | None,
             before_save: Callable[[], None] | None = None) -> consensus_pb2.Vote:
        """A signed vote for `block` (whose parent `qc` certifies), if rule 0 of
        `sign_proposal` and the rules of `safe_to_vote` hold. Asked again in the round of the
        stored vote, returns the stored vote (re-signed, byte-identical) whatever the block.
        `before_save` runs only for a new vote, after the checks and before the safety data
        is saved (the replica stores the voted proposal there: cybermesh/consensus/voted.py).
        """
        round_ = block.header.round
        last_vote = self._data.last_vote
        if last_vote is not None and last_vote.vote_data.round == round_:
            return self._signed_vote(last_vote)
        self._check_certificates("vote", round_, block, qc, tc)
        self.safe_to_vote(round_, qc.vote_data.round, tc)
        h = block.header
        unsigned = consensus_pb2.Vote(
            schema_version=SCHEMA_VERSION,
            author=self._author,
            vote_data=block_pb2.VoteData(
                schema_version=SCHEMA_VERSION, chain_id=h.chain_id, round=h.round,
                block_hash=block_hash(h), height=h.height, parent_hash=h.parent_hash,
                parent_round=qc.vote_data.round,
            ),
        )
        data = replace(self._observe_qc(self._data, qc), last_voted_round=round_, last_vote=unsigned)
        if before_save is not None:
            before_save()
        self._save(data)
        return self._signed_vote(unsigned)

    def _signed_vote(self, unsigned: consensus_pb2.Vote) -> consensus_pb2.Vote:
        vote = consensus_pb2.Vote()
        vote.CopyFrom(unsigned)
        vote.signature = self._key.sign(vote_bytes(unsigned.vote_data)).signature
        return vote

    def safe_to_timeout(self, round_: int, qc_round: int,
                        tc: consensus_pb2.TimeoutCert | None) -> None:
        """Timeout rules; raise NotSafeToTimeout(rule, ...).

        1. round >= last_voted_round: never time out in a round older than one acted in.
        2. round == qc_round + 1 or round == tc_round + 1: the replica is legitimately in
           `round` (its high QC or last TC moved it there).
        3. qc_round >= one_chain_round: the timeout reports the highest QC ever seen, so a TC
           (2f+1 timeouts) never hides a QC that 2f+1 voters of a committed block observed.
        """
        tc_round, _ = _tc_rounds(tc)
        d = self._data
        if round_ < d.last_voted_round:
            raise NotSafeToTimeout(1, round_, qc_round, tc_round, d.one_chain_round, d.last_voted_round)
        if not (round_ == qc_round + 1 or round_ == tc_round + 1):
            raise NotSafeToTimeout(2, round_, qc_round, tc_round, d.one_chain_round, d.last_voted_round)
        if qc_round < d.one_chain_round:
            raise NotSafeToTimeout(3, round_, qc_round, tc_round, d.one_chain_round, d.last_voted_round)

    def timeout(self, round_: int, high_qc: block_pb2.QuorumCert,
                last_tc: consensus_pb2.TimeoutCert | None) -> consensus_pb2.Timeout:
        """A signed timeout of `round_` carrying `high_qc`, if the certificates verify and the
        rules of `safe_to_timeout` hold. Asked again for the stored round, returns the stored
        timeout (re-signed, byte-identical)."""
        stored = self._data.last_timeout
        if stored is not None and stored.round == round_:
            return self._signed_timeout(stored)
        self._check_certificates("timeout", round_, None, high_qc, last_tc)
        self.safe_to_timeout(round_, high_qc.vote_data.round, last_tc)
        unsigned = consensus_pb2.Timeout(
            schema_version=SCHEMA_VERSION, chain_id=self._validators.chain_id, round=round_,
            high_qc=high_qc, author=self._author,
        )
        if last_tc is not None:
            unsigned.last_tc.CopyFrom(last_tc)
        data = replace(
            self._observe_qc(self._data, high_qc),
            last_voted_round=round_, highest_timeout_round=round_, last_timeout=unsigned,
        )
        self._save(data)
        return self._signed_timeout(unsigned)

    def _signed_timeout(self, unsigned: consensus_pb2.Timeout) -> consensus_pb2.Timeout:
        msg = consensus_pb2.Timeout()
        msg.CopyFrom(unsigned)
        qc_round = unsigned.high_qc.vote_data.round
        msg.signature = self._key.sign(
            timeout_bytes(unsigned.chain_id, unsigned.round, qc_round)).signature
        return msg
