"""HotStuff two-chain consensus core (Jolteon / DiemBFT-v4 rules; DESIGN §5, docs/CONSENSUS.md).

Pure and event-driven: `Replica.on_message(sender, msg, now_ms)`, `Replica.on_timer(round,
now_ms)` and `Replica.start(now_ms)` return `Outputs` (messages to send, timers to set, blocks
committed). The only side effect is the `SafetyStorage` port, which the safety rules call (and
which must be durable) before a vote or timeout is signed.
"""

from cybermesh.consensus.replica import Outputs, Replica, Timer

__all__ = ["Outputs", "Replica", "Timer"]
