"""Errors of the consensus core; each carries the values that explain it."""

from __future__ import annotations


class ConsensusError(Exception):
    """A message or request the core refuses; `reason` is a stable code for metrics."""

    reason = "invalid"


class InvalidCertificate(ConsensusError):
    """A QC or TC that does not verify against the genesis validator set."""

    reason = "invalid_certificate"

    def __init__(self, kind: str, round_: int, detail: str) -> None:
        super().__init__(f"invalid {kind} of round {round_}: {detail}")
        self.kind, self.round, self.detail = kind, round_, detail


class InvalidMessage(ConsensusError):
    """A proposal, vote, timeout or sync message that is malformed or wrongly signed."""

    reason = "invalid_message"

    def __init__(self, kind: str, round_: int, detail: str) -> None:
        super().__init__(f"invalid {kind} of round {round_}: {detail}")
        self.kind, self.round, self.detail = kind, round_, detail


class NotSafeToVote(ConsensusError):
    """Vote rule 1 or 2 of `safety.SafetyRules.vote` failed."""

    reason = "not_safe_to_vote"

    def __init__(self, rule: int, round_: int, qc_round: int, tc_round: int, hqc_round: int,
                 last_voted_round: int) -> None:
        super().__init__(
            f"vote rule {rule}: round={round_} qc_round={qc_round} tc_round={tc_round} "
            f"tc_hqc_round={hqc_round} last_voted_round={last_voted_round}"
        )
        self.rule, self.round, self.qc_round, self.tc_round = rule, round_, qc_round, tc_round
        self.hqc_round, self.last_voted_round = hqc_round, last_voted_round


class NotSafeToTimeout(ConsensusError):
    """Timeout rule 1, 2 or 3 of `safety.SafetyRules.timeout` failed."""

    reason = "not_safe_to_timeout"

    def __init__(self, rule: int, round_: int, qc_round: int, tc_round: int,
                 one_chain_round: int, last_voted_round: int) -> None:
        super().__init__(
            f"timeout rule {rule}: round={round_} qc_round={qc_round} tc_round={tc_round} "
            f"one_chain_round={one_chain_round} last_voted_round={last_voted_round}"
        )
        self.rule, self.round, self.qc_round, self.tc_round = rule, round_, qc_round, tc_round
        self.one_chain_round, self.last_voted_round = one_chain_round, last_voted_round


class NotSafeToPropose(ConsensusError):
    """Proposal rule 1 or 2 of `safety.SafetyRules.sign_proposal` failed."""

    reason = "not_safe_to_propose"

    def __init__(self, rule: int, round_: int, qc_round: int, tc_round: int,
                 last_voted_round: int) -> None:
        super().__init__(
            f"proposal rule {rule}: round={round_} qc_round={qc_round} tc_round={tc_round} "
            f"last_voted_round={last_voted_round}"
        )
        self.rule, self.round, self.qc_round, self.tc_round = rule, round_, qc_round, tc_round
        self.last_voted_round = last_voted_round
