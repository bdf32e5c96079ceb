"""What admission decides about a record: Admitted, Rejected, or (between the two halves of
a batch) a Candidate awaiting its signature check."""

from __future__ import annotations

from dataclasses import dataclass

from cybermesh.admission.reasons import Reason


@dataclass(frozen=True, slots=True)
class Admitted:
    """A message fit for the mempool."""

    topic: str
    kind: int
    """TxKind of the topic (cybermesh.proto.v1.block_pb2)."""
    tx_hash: bytes
    raw: bytes
    """The record exactly as received."""
    producer_id: str
    nonce: int
    ts: int
    score: int
    """severity x confidence for anomalies, 0 otherwise (mempool priority input)."""
    replay_key: bytes
    expires_ms: int
    """When the replay-cache and dedupe entries written for this message expire."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message that is not admitted, and why."""

    topic: str
    reason: Reason
    detail: str
    tx_hash: bytes
    producer_id: str
    """The claimed producer, "" when the record did not decode. Untrusted."""


Decision = Admitted | Rejected


@dataclass(frozen=True, slots=True)
class Candidate:
    """A record that passed checks 1-9, with what checks 10-13 need."""

    topic: str
    raw: bytes
    tx_hash: bytes
    producer_id: str
    nonce: int
    ts: int
    score: int
    pubkey: bytes
    signature: bytes
    signing_bytes: bytes
