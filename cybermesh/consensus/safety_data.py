"""The safety rules' durable record and the port that stores it.

NOTE (contract of every `SafetyStorage`): `save(data)` returns only when `data` is durable
(fsync'd); a later `load()`, also after a crash, returns the last saved value (never a torn or
older one); `load()` returns None before the first save.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from cybermesh.consensus.crypto import SCHEMA_VERSION
from cybermesh.proto.v1 import block_pb2, consensus_pb2
from cybermesh.wire.strict import decode_strict, encode


@dataclass(frozen=True)
class SafetyData:
    """What a replica must remember across restarts so that it never equivocates."""

    chain_id: str
    last_voted_round: int = 0
    """Highest round in which this replica voted or timed out."""
    preferred_round: int = 0
    """Highest parent round of any QC seen (the 2-chain lock; informational in Jolteon)."""
    one_chain_round: int = 0
    """Highest QC round seen; a timeout must report a QC at least this high."""
    highest_timeout_round: int = 0
    """Highest round this replica timed out in."""
    last_vote: consensus_pb2.Vote | None = None
    """The last vote, stored unsigned (Ed25519 is deterministic: re-signing gives the same bytes)."""
    high_qc: block_pb2.QuorumCert | None = None
    """Highest QC seen when the last vote or timeout was signed."""
    last_timeout: consensus_pb2.Timeout | None = None
    """The last timeout, stored unsigned."""


class SafetyStorage(Protocol):
    """Persistence port of the safety rules (see the module NOTE)."""

    def load(self) -> SafetyData | None: ...

    def save(self, data: SafetyData) -> None: ...


def encode_safety(data: SafetyData) -> bytes:
    """Canonical bytes of `data` (a consensus.proto SafetyData)."""
    msg = consensus_pb2.SafetyData(
        schema_version=SCHEMA_VERSION,
        chain_id=data.chain_id,
        last_voted_round=data.last_voted_round,
        preferred_round=data.preferred_round,
        one_chain_round=data.one_chain_round,
        highest_timeout_round=data.highest_timeout_round,
    )
    if data.last_vote is not None:
        msg.last_vote.CopyFrom(data.last_vote)
    if data.high_qc is not None:
        msg.high_qc.CopyFrom(data.high_qc)
    if data.last_timeout is not None:
        msg.last_timeout.CopyFrom(data.last_timeout)
    return encode(msg)


def decode_safety(raw: bytes) -> SafetyData:
    """Inverse of `encode_safety`; raises cybermesh.wire.strict.DecodeError."""
    msg = decode_strict(consensus_pb2.SafetyData, raw)
    return SafetyData(
        chain_id=msg.chain_id,
        last_voted_round=msg.last_voted_round,
        preferred_round=msg.preferred_round,
        one_chain_round=msg.one_chain_round,
        highest_timeout_round=msg.highest_timeout_round,
        last_vote=msg.last_vote if msg.HasField("last_vote") else None,
        high_qc=msg.high_qc if msg.HasField("high_qc") else None,
        last_timeout=msg.last_timeout if msg.HasField("last_timeout") else None,
    )


class MemorySafetyStorage:
    """In-memory twin of the durable store. It keeps encoded bytes, so a "restart" (a new
    replica on the same storage) sees exactly what a real store would return."""

    def __init__(self) -> None:
        self._raw: bytes | None = None
        self.saves = 0

    def load(self) -> SafetyData | None:
        return None if self._raw is None else decode_safety(self._raw)

    def save(self, data: SafetyData) -> None:
        self._raw = encode_safety(data)
        self.saves += 1
