"""What one call of the replica produced (see `Replica` for the driver contract)."""

from __future__ import annotations

from dataclasses import dataclass, field

from cybermesh.consensus.pacemaker import Timer
from cybermesh.proto.v1 import block_pb2, consensus_pb2

Msg = consensus_pb2.ConsensusMessage


@dataclass(frozen=True)
class Outputs:
    """What one call produced. Release in any order: safety data is already durable."""

    send: tuple[tuple[str, Msg], ...] = ()
    """(validator id, message) pairs."""
    broadcast: tuple[Msg, ...] = ()
    """Messages for every other validator."""
    timers: tuple[Timer, ...] = ()
    """Timers to arm; the last one supersedes the others."""
    commits: tuple[block_pb2.CommittedBlock, ...] = ()
    """Newly committed blocks, in height order."""
    rejected: tuple[str, ...] = ()
    """Reason codes of refused inputs (metrics), e.g. invalid_certificate, double_vote."""


@dataclass
class _Step:
    send: list[tuple[str, Msg]] = field(default_factory=list)
    broadcast: list[Msg] = field(default_factory=list)
    timers: list[Timer] = field(default_factory=list)
    commits: list[block_pb2.CommittedBlock] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    def freeze(self) -> Outputs:
        return Outputs(tuple(self.send), tuple(self.broadcast), tuple(self.timers),
                       tuple(self.commits), tuple(self.rejected))
