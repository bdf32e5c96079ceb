"""Admission core: pure checks that decide whether an untrusted record enters the mempool.

No I/O, no clock (now_ms is an argument), no randomness. See cybermesh.admission.core for the
checks and their order, and docs/ADMISSION.md for the reason codes.
"""

from cybermesh.admission.core import (
    Admission,
    Rules,
    State,
    replay_key,
    rules_for,
    verify_candidate,
    verify_candidates,
)
from cybermesh.admission.decision import Admitted, Candidate, Decision, Rejected
from cybermesh.admission.reasons import Reason

__all__ = [
    "Admission",
    "Admitted",
    "Candidate",
    "Decision",
    "Reason",
    "Rejected",
    "Rules",
    "State",
    "replay_key",
    "rules_for",
    "verify_candidate",
    "verify_candidates",
]
