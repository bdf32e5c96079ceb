"""HotStuff two-chain consensus core (Jolteon / DiemBFT-v4 rules; DESIGN §5, docs/CONSENSUS.md).

Pure and event-driven: `Replica.on_message(sender, msg, now_ms)`, `Replica.on_timer(round,
now_ms)` and `Replica.start(now_ms)` return `Outputs` (messages to send, timers to set, blocks
committed). The only side effects are two durable ports called before a vote or timeout is
signed: `SafetyStorage` (the safety rules' record) and `VotedBlocks` (the proposals voted for,
so that a network whose validators all restart still holds its certified blocks).
"""

from cybermesh.consensus.replica import Outputs, Replica, Timer

__all__ = ["Outputs", "Replica", "Timer"]
