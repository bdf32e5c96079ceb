"""Stable reject-reason codes of admission (docs/ADMISSION.md).

The string value of each member is the wire code: it is written to the `reject-reason` header
of DLQ records, to the `reason` label of the rejection metric and to the audit log. Codes are
never renamed or reused; new codes may be added.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why a message was not admitted, in the order the checks run (cheapest first)."""

    UNKNOWN_TOPIC = "unknown_topic"
    """The record came from a topic that carries no ai.* transactions."""
    OVERSIZE = "oversize"
    """The record is larger than the size cap of its topic."""
    UNDECODABLE = "undecodable"
    """The bytes do not parse as the topic's protobuf message."""
    UNKNOWN_FIELDS = "unknown_fields"
    """The message carries fields its schema does not define."""
    NON_CANONICAL = "non_canonical"
    """The bytes are not the deterministic serialization of the message they decode to."""
    UNSUPPORTED_VERSION = "unsupported_version"
    """`schema_version` is not one this validator understands."""
    BAD_SCHEMA = "bad_schema"
    """A required field is missing, or a field is out of range (see docs/ADMISSION.md)."""
    BAD_PAYLOAD_HASH = "bad_payload_hash"
    """An anomaly's `payload_hash` is not SHA-256(payload)."""
    STALE = "stale"
    """`ts` is more than `skew_ms` before the local clock."""
    FUTURE = "future"
    """`ts` is more than `skew_ms` after the local clock."""
    UNKNOWN_PRODUCER = "unknown_producer"
    """`producer_id` is not registered in genesis."""
    PRODUCER_NOT_ALLOWED = "producer_not_allowed"
    """The producer is registered, but not for this topic."""
    KEY_MISMATCH = "key_mismatch"
    """`pubkey` is not the key registered for `producer_id`."""
    DUPLICATE = "duplicate"
    """The exact same bytes (same tx hash) were admitted within the dedupe window."""
    ALREADY_COMMITTED = "already_committed"
    """The tx is already in the committed state (decided by the ingest agent, not the core:
    it is counted, not sent to the DLQ; docs/ADMISSION.md)."""
    REPLAY = "replay"
    """A different message with the same (producer_id, nonce) was admitted within 2 x skew."""
    RATE_LIMITED = "rate_limited"
    """The producer's token bucket is empty."""
    BAD_SIGNATURE = "bad_signature"
    """The Ed25519 signature does not verify over the signing bytes."""
    INTERNAL = "internal"
    """A bug in admission itself (never expected; the fuzz campaign asserts it never occurs)."""
