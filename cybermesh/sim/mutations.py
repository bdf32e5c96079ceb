"""Deliberately broken safety rules, used only to prove the simulator can fail.

Never used in production code paths: the tests and `cybermesh sim --mutation` inject them.
"""

from __future__ import annotations

from cybermesh.consensus.errors import NotSafeToVote
from cybermesh.consensus.safety import SafetyRules
from cybermesh.proto.v1 import consensus_pb2


class NoTcRoundCheck(SafetyRules):
    """Vote rule 2 without `qc_round >= tc.high_qc.round`: after a timeout, votes for a block
    that extends any QC, even one older than a QC the TC reports (and a block may have
    committed on)."""

    def safe_to_vote(self, round_: int, qc_round: int,
                     tc: consensus_pb2.TimeoutCert | None) -> None:
        tc_round = tc.round if tc is not None else 0
        last = self.data.last_voted_round
        if round_ <= last:
            raise NotSafeToVote(1, round_, qc_round, tc_round, 0, last)
        if not (round_ == qc_round + 1 or round_ == tc_round + 1):
            raise NotSafeToVote(2, round_, qc_round, tc_round, 0, last)


MUTATIONS: dict[str, type[SafetyRules]] = {"no-tc-round-check": NoTcRoundCheck}
