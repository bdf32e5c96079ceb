"""Block validity of one transaction (DESIGN §4), deterministic. Pure.

`check_tx` enforces, in this order (the first failure is the reason):

1. `bad_encoding`: the Tx has a known kind and schema_version, and raw is a strict,
   canonical encoding of the kind's message (cybermesh.wire.strict; unknown fields and
   non-canonical bytes are rejected).
2. `bad_schema`: the message's schema_version is supported.
3. `bad_field`: id and producer_id non-empty; anomaly: source non-empty, severity <= 10,
   confidence <= 10000, payload_hash = SHA-256(payload); evidence: len(refs) <=
   param evidence_max_refs; policy: action is 1..4, param keys strictly ascending.
4. `unknown_producer`: `producer/<producer_id>` exists; `revoked_producer`: not revoked
   (revocations by earlier txs of the same block count); `topic_not_allowed`: the producer
   may publish on the tx's topic; `pubkey_mismatch`: pubkey is the registered key.
5. `stale`: ts >= block.timestamp - max_tx_age_ms; `future`: ts <= block.timestamp +
   max_tx_future_ms.
6. `duplicate`: no earlier tx of this block has the same tx hash; `already_committed`: the
   tx hash is not in the committed index.
7. `replay`: (producer_id, nonce) is unused, in state and earlier in this block.
8. `bad_signature`: the Ed25519 signature verifies, unless the tx hash is in `verified`
   (signatures this node already verified over these exact bytes; see docs/STATE.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Container
from dataclasses import dataclass
from itertools import pairwise
from typing import Final

from cybermesh.proto.v1 import ai_pb2, block_pb2
from cybermesh.state.context import Context
from cybermesh.state.records import (
    NonceRecord,
    ProducerRecord,
    TxRecord,
    nonce_key,
    producer_key,
    tx_key,
)
from cybermesh.wire import signing, strict
from cybermesh.wire.topics import MESSAGE_TYPES, SUPPORTED_SCHEMA_VERSIONS, TOPIC_BY_TX_KIND

AiMessage = ai_pb2.Anomaly | ai_pb2.Evidence | ai_pb2.Policy
MAX_SEVERITY: Final = 10
MAX_CONFIDENCE_BP: Final = 10_000


class InvalidTxError(ValueError):
    """A transaction that makes its block invalid; `reason` is a stable code (rules 1-8)."""

    def __init__(self, index: int, reason: str, detail: str, tx_hash: bytes) -> None:
        super().__init__(f"tx {index}: {reason}: {detail}")
        self.index = index
        self.reason = reason
        self.detail = detail
        self.tx_hash = tx_hash


@dataclass(frozen=True)
class CheckedTx:
    """A transaction that passed check_tx, decoded."""

    index: int
    kind: int
    topic: str
    msg: AiMessage
    tx_hash: bytes
    producer: ProducerRecord


def _fields(msg: AiMessage, ctx: Context) -> str | None:
    if not msg.id or not msg.producer_id:
        return "id and producer_id must be non-empty"
    if isinstance(msg, ai_pb2.Anomaly):
        if not msg.source:
            return "source must be non-empty"
        if msg.severity > MAX_SEVERITY or msg.confidence > MAX_CONFIDENCE_BP:
            return f"severity {msg.severity} or confidence {msg.confidence} out of range"
        if msg.payload_hash != hashlib.sha256(msg.payload).digest():
            return "payload_hash != SHA-256(payload)"
    elif isinstance(msg, ai_pb2.Evidence):
        limit = ctx.param("evidence_max_refs")
        if len(msg.refs) > limit:
            return f"{len(msg.refs)} refs > evidence_max_refs {limit}"
    else:
        if not 1 <= msg.action <= 4:
            return f"policy action {msg.action} unknown"
        keys = [p.key for p in msg.params]
        if any(a >= b for a, b in pairwise(keys)):
            return "policy params keys not strictly ascending"
    return None


def _producer(msg: AiMessage, topic: str, ctx: Context) -> tuple[str, str] | ProducerRecord:
    producer = ctx.read(producer_key(msg.producer_id), ProducerRecord)
    if producer is None:
        return "unknown_producer", f"producer {msg.producer_id!r} not registered"
    if producer.revoked_height:
        return "revoked_producer", f"producer {msg.producer_id!r} revoked at {producer.revoked_height}"
    if topic not in producer.topics:
        return "topic_not_allowed", f"producer {msg.producer_id!r} may not publish on {topic}"
    if msg.pubkey != producer.pubkey:
        return "pubkey_mismatch", f"pubkey {msg.pubkey.hex()} is not the registered key"
    return producer


def check_tx(ctx: Context, index: int, tx: block_pb2.Tx, verified: Container[bytes]) -> CheckedTx:
    """Rules 1-8 of the module docstring, against the block's context; raise InvalidTxError."""
    digest = hashlib.sha256(tx.raw).digest()

    def fail(reason: str, detail: str) -> InvalidTxError:
        return InvalidTxError(index, reason, detail, digest)

    topic = TOPIC_BY_TX_KIND.get(tx.kind)
    if topic is None or tx.schema_version not in SUPPORTED_SCHEMA_VERSIONS:
        raise fail("bad_encoding", f"tx kind {tx.kind}, tx schema_version {tx.schema_version}")
    try:
        msg: AiMessage = strict.decode_strict(MESSAGE_TYPES[topic], tx.raw)  # type: ignore[assignment]
    except strict.DecodeError as exc:
        raise fail("bad_encoding", str(exc)) from None
    if msg.schema_version not in SUPPORTED_SCHEMA_VERSIONS:
        raise fail("bad_schema", f"schema_version {msg.schema_version}")
    problem = _fields(msg, ctx)
    if problem is not None:
        raise fail("bad_field", problem)
    producer = _producer(msg, topic, ctx)
    if isinstance(producer, tuple):
        raise fail(*producer)
    lo, hi = ctx.timestamp - ctx.limits.max_tx_age_ms, ctx.timestamp + ctx.limits.max_tx_future_ms
    if msg.ts < lo:
        raise fail("stale", f"ts {msg.ts} < block ts {ctx.timestamp} - {ctx.limits.max_tx_age_ms}")
    if msg.ts > hi:
        raise fail("future", f"ts {msg.ts} > block ts {ctx.timestamp} + {ctx.limits.max_tx_future_ms}")
    if ctx.writes.get(tx_key(digest)) is not None:
        raise fail("duplicate", f"tx {digest.hex()} repeats an earlier tx of this block")
    committed = ctx.read(tx_key(digest), TxRecord)
    if committed is not None:
        raise fail("already_committed", f"tx {digest.hex()} committed at height {committed.height}")
    used = ctx.read(nonce_key(msg.producer_id, msg.nonce), NonceRecord)
    if used is not None:
        raise fail("replay", f"nonce {msg.nonce} of {msg.producer_id!r} used by tx {used.tx_hash.hex()}")
    if digest not in verified and not signing.verify(topic, msg):
        raise fail("bad_signature", f"Ed25519 signature of {msg.producer_id!r} does not verify")
    return CheckedTx(index, tx.kind, topic, msg, digest, producer)
