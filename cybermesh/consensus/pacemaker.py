"""Pacemaker: the current round and its local timeout.

Rules:

1. The round only grows: a QC or TC of round r moves the replica to round r + 1 (if higher).
2. Entering a round arms exactly one timer, `Timer(round, now + duration)`; a fired timer of an
   older round is ignored (no busy loop: nothing is re-armed for stale rounds).
3. duration = min(base_ms * 2^k, max_ms), k = rounds since the last round that ended with a QC
   (current_round - high_qc_round - 1), capped at `max_exponent`: exponential backoff while
   rounds keep timing out, back to `base_ms` as soon as a QC forms.
4. When the timer of the current round fires, the replica times out and the timer is re-armed
   with the same duration (the timeout is re-sent until the round ends, for lossy links).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Timer:
    """Ask the driver to call `Replica.on_timer(round, now_ms)` at `at_ms` (or later)."""

    round: int
    at_ms: int


@dataclass(frozen=True)
class PacemakerConfig:
    base_ms: int = 1000
    """Timeout of a round that follows a QC."""
    max_ms: int = 30_000
    """Cap of the backed-off timeout."""
    max_exponent: int = 16
    """Cap of k in rule 3 (keeps 2^k small)."""


class Pacemaker:
    def __init__(self, config: PacemakerConfig, round_: int = 1) -> None:
        self.config = config
        self.round = round_

    def duration(self, high_qc_round: int) -> int:
        """Rule 3."""
        k = min(max(self.round - high_qc_round - 1, 0), self.config.max_exponent)
        return min(self.config.base_ms << k, self.config.max_ms)

    def advance(self, certified_round: int, high_qc_round: int, now_ms: int) -> Timer | None:
        """Rule 1-2: a certificate of `certified_round` was seen; the new timer, or None."""
        if certified_round + 1 <= self.round:
            return None
        self.round = certified_round + 1
        return Timer(self.round, now_ms + self.duration(high_qc_round))

    def rearm(self, high_qc_round: int, now_ms: int) -> Timer:
        """Rule 4 (also used at start)."""
        return Timer(self.round, now_ms + self.duration(high_qc_round))
