"""Property: whatever it is asked, in any order and across restarts, the safety rules never
sign two different votes for one round, never vote in a round they timed out in, and never
let last_voted_round go down."""

from __future__ import annotations

from functools import cache

from hypothesis import given, settings
from hypothesis import strategies as st

from cybermesh.consensus.crypto import CachingVerifier
from cybermesh.consensus.errors import ConsensusError
from cybermesh.consensus.safety import SafetyRules
from cybermesh.consensus.safety_data import MemorySafetyStorage
from cybermesh.proto.v1 import block_pb2, consensus_pb2
from cybermesh.sim.keys import signing_key
from cybermesh.wire.strict import encode

from .builders import GQC, VS, make_block, make_qc, make_tc

VERIFY = CachingVerifier()


@cache
def certified(parent_round: int, round_: int) -> tuple[block_pb2.Block, block_pb2.QuorumCert]:
    """Block of `round_` on the chain whose rounds are all < round_, extending round `parent_round`
    (a small universe of blocks and QCs shared by all examples: signatures are costly)."""
    parent_qc = GQC if parent_round == 0 else certified(max(0, parent_round - 1), parent_round)[1]
    block = make_block(parent_qc, round_)
    return block, make_qc(block, parent_qc)


ops = st.lists(st.one_of(
    st.tuples(st.just("vote"), st.integers(0, 6), st.integers(1, 8), st.booleans()),
    st.tuples(st.just("timeout"), st.integers(0, 6), st.integers(1, 8), st.booleans()),
    st.tuples(st.just("restart"), st.just(0), st.just(0), st.just(False)),
), max_size=25)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(ops)
def test_never_two_votes_in_a_round(operations: list[tuple[str, int, int, bool]]) -> None:
    storage = MemorySafetyStorage()
    sr = SafetyRules(VS, "v1", signing_key("v1"), storage, VERIFY)
    votes: dict[int, bytes] = {}
    timed_out: set[int] = set()
    last = 0
    for op, qc_round, round_, with_tc in operations:
        if op == "restart":
            sr = SafetyRules(VS, "v1", signing_key("v1"), storage, VERIFY)
            continue
        qc = GQC if qc_round == 0 else certified(max(0, qc_round - 1), qc_round)[1]
        tc: consensus_pb2.TimeoutCert | None = None
        if with_tc and round_ - 1 > qc_round:
            tc = make_tc(round_ - 1, qc)
        try:
            if op == "vote" and round_ > qc_round:
                vote = sr.vote(make_block(qc, round_), qc, tc)
                assert round_ not in timed_out or votes.get(round_) == encode(vote)
                assert votes.setdefault(round_, encode(vote)) == encode(vote)
            elif op == "timeout" and round_ > qc_round:
                sr.timeout(round_, qc, tc)
                timed_out.add(round_)
        except ConsensusError:
            pass
        assert sr.data.last_voted_round >= last
        last = sr.data.last_voted_round
