"""Open one signed ai.* record: the whole DESIGN §3 wire check in one call. Pure.

`open_record(topic, raw)` returns the decoded message or raises `RecordError` whose `reason`
is a stable code. Checks run cheapest first, signature last:

1. the topic is an ai.* topic (`unknown_topic`);
2. strict decode (`undecodable`, `unknown_fields`, `non_canonical`: see `strict.py`);
3. field limits (`bad_fields`: see `fields.check_limits`);
4. an anomaly's `payload_hash` equals SHA-256(payload) (`bad_payload_hash`);
5. the Ed25519 signature by `pubkey` over the signing bytes verifies (`bad_signature`).

NOTE: this does not know genesis: whether `pubkey` is the key registered for `producer_id`,
the timestamp skew and replay are admission's checks (DESIGN §4).
"""

from __future__ import annotations

from google.protobuf.message import Message

from cybermesh.proto.v1 import ai_pb2
from cybermesh.wire.fields import FieldError, check_limits
from cybermesh.wire.signing import payload_hash, verify
from cybermesh.wire.strict import DecodeError, decode_strict
from cybermesh.wire.topics import AI_TOPICS, MESSAGE_TYPES


class RecordError(ValueError):
    """A rejected record; `reason` is one of the codes in the module docstring."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def open_record(topic: str, raw: bytes) -> Message:
    """Decode and verify `raw` from `topic` (rules 1-5 of the module docstring)."""
    if topic not in AI_TOPICS:
        raise RecordError("unknown_topic", f"{topic!r} is not one of {list(AI_TOPICS)}")
    try:
        msg = decode_strict(MESSAGE_TYPES[topic], raw)
    except DecodeError as exc:
        raise RecordError(exc.reason, exc.detail) from None
    try:
        check_limits(msg)
    except FieldError as exc:
        raise RecordError("bad_fields", str(exc)) from None
    if isinstance(msg, ai_pb2.Anomaly) and msg.payload_hash != payload_hash(msg.payload):
        raise RecordError("bad_payload_hash", "payload_hash is not SHA-256(payload)")
    if not verify(topic, msg):
        pubkey: bytes = msg.pubkey  # type: ignore[attr-defined]
        raise RecordError("bad_signature", f"signature does not verify with pubkey {pubkey.hex()}")
    return msg
