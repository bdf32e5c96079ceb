"""Safety rules: vote, timeout and proposal rules, save-before-sign, repeated requests."""

from __future__ import annotations

import pytest

from cybermesh.consensus.crypto import CachingVerifier, block_hash, vote_bytes
from cybermesh.consensus.errors import (
    InvalidCertificate,
    InvalidMessage,
    NotSafeToPropose,
    NotSafeToTimeout,
    NotSafeToVote,
)
from cybermesh.consensus.safety import SafetyRules, committed_by
from cybermesh.consensus.safety_data import MemorySafetyStorage, SafetyData
from cybermesh.sim.keys import signing_key
from cybermesh.wire.signing import verify_signature

from .builders import GQC, VS, chain, make_block, make_qc, make_tc


def rules(storage: MemorySafetyStorage | None = None, author: str = "v1") -> SafetyRules:
    return SafetyRules(VS, author, signing_key(author), storage or MemorySafetyStorage(),
                       CachingVerifier())


def test_votes_for_a_block_extending_the_previous_round_qc() -> None:
    # genesis <- b1(r1) <- b2(r2): vote for b2 with QC(b1)
    (_b1, qc1), (b2, _) = chain([1, 2])
    sr = rules()
    vote = sr.vote(b2, qc1, None)
    assert vote.vote_data.block_hash == block_hash(b2.header)
    assert vote.vote_data.parent_round == 1
    assert verify_signature(VS.keys["v1"], vote_bytes(vote.vote_data), vote.signature)
    assert sr.data.last_voted_round == 2 and sr.data.one_chain_round == 1


def test_vote_rule_1_refuses_an_older_or_equal_round_after_a_different_vote() -> None:
    (_b1, qc1), (b2, _) = chain([1, 2])
    sr = rules()
    sr.vote(b2, qc1, None)
    older = make_block(GQC, 1, salt=5)
    with pytest.raises(NotSafeToVote) as err:
        sr.vote(older, GQC, None)
    assert (err.value.rule, err.value.round, err.value.last_voted_round) == (1, 1, 2)


def test_asked_twice_in_a_round_returns_the_stored_vote_byte_for_byte() -> None:
    # b2 and b2' both round 2 (an equivocating leader): the second request gets the first vote
    (_b1, qc1), (b2, _) = chain([1, 2])
    b2x = make_block(qc1, 2, salt=7)
    storage = MemorySafetyStorage()
    sr = rules(storage)
    first = sr.vote(b2, qc1, None)
    saves = storage.saves
    again = sr.vote(b2x, qc1, None)
    assert again.SerializeToString() == first.SerializeToString()
    assert storage.saves == saves  # nothing new signed, nothing new stored
    restarted = rules(storage)  # after a restart, too
    assert restarted.vote(b2x, qc1, None).SerializeToString() == first.SerializeToString()


def test_vote_rule_2_refuses_a_gap_without_a_tc() -> None:
    # genesis <- b1(r1) <- b3(r3): round 2 is missing and there is no TC of round 2
    (_b1, qc1), = chain([1])
    b3 = make_block(qc1, 3)
    with pytest.raises(NotSafeToVote) as err:
        rules().vote(b3, qc1, None)
    assert (err.value.rule, err.value.round, err.value.qc_round, err.value.tc_round) == (2, 3, 1, 0)


def test_vote_rule_2_accepts_a_tc_when_the_qc_is_at_least_the_tc_high_qc() -> None:
    # genesis <- b1(r1) ; round 2 timed out (TC2 reports QC(b1)) ; b3(r3) extends b1 with TC2
    (_b1, qc1), = chain([1])
    b3 = make_block(qc1, 3)
    vote = rules().vote(b3, qc1, make_tc(2, qc1))
    assert vote.vote_data.round == 3


def test_vote_rule_2_refuses_a_block_below_the_tc_high_qc() -> None:
    #          +- b2(r2)         TC3 reports QC(b2)
    # genesis <- b1(r1)
    #          +- b4(r4) extends b1 only: it could bypass a committed b2 lineage
    (_b1, qc1), (_b2, qc2) = chain([1, 2])
    b4 = make_block(qc1, 4)
    with pytest.raises(NotSafeToVote) as err:
        rules().vote(b4, qc1, make_tc(3, qc2))
    assert (err.value.rule, err.value.qc_round, err.value.tc_round, err.value.hqc_round) == (2, 1, 3, 2)


def test_rule_0_refuses_a_qc_that_does_not_certify_the_parent_or_is_forged() -> None:
    (b1, _qc1), (b2, _) = chain([1, 2])
    other = make_block(GQC, 1, salt=3)
    with pytest.raises(InvalidMessage):
        rules().vote(b2, make_qc(other, GQC), None)
    forged = make_qc(b1, GQC)
    forged.signatures[0].signature = bytes(64)
    with pytest.raises(InvalidCertificate):
        rules().vote(b2, forged, None)
    too_few = make_qc(b1, GQC, signers=("v0", "v1"))
    with pytest.raises(InvalidCertificate):
        rules().vote(b2, too_few, None)


def test_save_happens_before_sign_and_a_failed_save_releases_nothing() -> None:
    class FailingStorage(MemorySafetyStorage):
        def save(self, data: SafetyData) -> None:
            raise OSError("disk full")

    (_b1, qc1), (b2, _) = chain([1, 2])
    sr = SafetyRules(VS, "v1", signing_key("v1"), FailingStorage(), CachingVerifier())
    with pytest.raises(OSError):
        sr.vote(b2, qc1, None)
    assert sr.data.last_voted_round == 0 and sr.data.last_vote is None
    with pytest.raises(OSError):
        sr.timeout(2, qc1, None)


def test_timeout_rules_and_no_vote_after_a_timeout_in_the_same_round() -> None:
    (_b1, qc1), (b2, _) = chain([1, 2])
    sr = rules()
    t = sr.timeout(2, qc1, None)
    assert (t.round, t.high_qc.vote_data.round) == (2, 1)
    assert sr.data.highest_timeout_round == 2 and sr.data.last_voted_round == 2
    assert sr.timeout(2, qc1, None).SerializeToString() == t.SerializeToString()
    with pytest.raises(NotSafeToVote) as err:  # rule 1: timed out in round 2
        sr.vote(b2, qc1, None)
    assert err.value.rule == 1
    with pytest.raises(NotSafeToTimeout) as terr:  # rule 1: older round
        sr.timeout(1, GQC, None)
    assert terr.value.rule == 1


def test_timeout_rule_2_and_3() -> None:
    (_b1, qc1), (_b2, qc2) = chain([1, 2])
    with pytest.raises(NotSafeToTimeout) as err:  # not in round 5 by QC or TC
        rules().timeout(5, qc2, None)
    assert (err.value.rule, err.value.round, err.value.qc_round) == (2, 5, 2)
    sr = rules()
    sr.vote(make_block(qc2, 3), qc2, None)  # saw QC(b2): one_chain_round = 2
    with pytest.raises(NotSafeToTimeout) as err3:  # reports QC(b1) < 2 (hiding a QC)
        sr.timeout(4, qc1, make_tc(3, qc1))
    assert (err3.value.rule, err3.value.one_chain_round) == (3, 2)
    assert sr.timeout(4, qc2, make_tc(3, qc2)).round == 4


def test_sign_proposal_rules() -> None:
    (_b1, qc1), = chain([1])
    b2 = make_block(qc1, 2)  # leader of round 2 is v2
    sr = rules(author="v2")
    assert len(sr.sign_proposal(b2, qc1, None)) == 64
    with pytest.raises(NotSafeToPropose) as err:
        sr.sign_proposal(make_block(qc1, 6), qc1, None)  # v2 leads 6, no TC of 5
    assert err.value.rule == 2
    sr.vote(b2, qc1, None)
    with pytest.raises(NotSafeToPropose) as err1:
        sr.sign_proposal(make_block(qc1, 2, salt=1), qc1, None)
    assert err1.value.rule == 1
    with pytest.raises(InvalidMessage):
        rules(author="v1").sign_proposal(b2, qc1, None)  # v1 is not b2's proposer


def test_two_chain_commit_rule() -> None:
    # b1(r1) <- b2(r2) <- b3(r3) <- b5(r5): QC(b3) commits b2; QC(b5) commits nothing
    (b1, qc1), (b2, qc2), (_b3, qc3) = chain([1, 2, 3])
    b5 = make_block(qc3, 5)
    assert committed_by(qc1) is None  # parent is genesis
    assert committed_by(qc2) == block_hash(b1.header)
    assert committed_by(qc3) == block_hash(b2.header)
    assert committed_by(make_qc(b5, qc3)) is None


def test_a_replica_refuses_safety_data_of_another_chain() -> None:
    storage = MemorySafetyStorage()
    storage.save(SafetyData(chain_id="other-chain"))
    with pytest.raises(ValueError, match="other-chain"):
        rules(storage)
