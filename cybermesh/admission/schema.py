"""Schema rules of the ai.* messages, checked after strict decoding (docs/ADMISSION.md §Schema).

A message is well-formed when all of these hold (proto3 has no presence for scalars, so
"present" means "not the default value"):

1. `schema_version` is in SUPPORTED_SCHEMA_VERSIONS (else `unsupported_version`).
2. `id` is 1..MAX_ID_LEN characters; `producer_id` is 1..MAX_PRODUCER_ID_LEN characters.
3. `ts` > 0 (ms since the Unix epoch). `nonce` is any uint64 (0 included).
4. `signature` is exactly 64 bytes, `pubkey` exactly 32 bytes.
5. Anomaly: `type` 1..MAX_NAME_LEN, `source` 1..MAX_ID_LEN, `model_version` 0..MAX_NAME_LEN
   characters; `severity` 0..10; `confidence` 0..10000 (basis points); `payload_hash` exactly
   32 bytes and equal to SHA-256(payload) (else `bad_payload_hash`).
6. Evidence: `evidence_type` 1..MAX_NAME_LEN characters; 1..MAX_REFS `refs`, each 1..MAX_ID_LEN
   characters, no ref repeated.
7. Policy: `action` is a known action other than UNSPECIFIED; `rule` 1..MAX_ID_LEN characters;
   at most MAX_PARAMS `params`, keys 1..MAX_NAME_LEN characters and strictly ascending (so
   unique and sorted).

Every violation but rules 1 and 5's hash is `bad_schema`; the detail names the field.
"""

from __future__ import annotations

import hashlib
from typing import Final

from cybermesh.admission.reasons import Reason
from cybermesh.proto.v1 import ai_pb2
from cybermesh.wire.topics import SUPPORTED_SCHEMA_VERSIONS

MAX_ID_LEN: Final = 128
MAX_PRODUCER_ID_LEN: Final = 64
MAX_NAME_LEN: Final = 64
MAX_REFS: Final = 64
MAX_PARAMS: Final = 32
SIGNATURE_LEN: Final = 64
PUBKEY_LEN: Final = 32
HASH_LEN: Final = 32
MAX_SEVERITY: Final = 10
MAX_CONFIDENCE: Final = 10_000
KNOWN_ACTIONS: Final = frozenset(
    v.number for v in ai_pb2.PolicyAction.DESCRIPTOR.values if v.number != 0
)

#: (reason, detail) of a failed check; None when the check passed.
Failure = tuple[Reason, str] | None


def _bad(detail: str) -> tuple[Reason, str]:
    return (Reason.BAD_SCHEMA, detail)


def _text(value: str, name: str, low: int, high: int) -> Failure:
    if not low <= len(value) <= high:
        return _bad(f"{name}: length {len(value)} not in {low}..{high}")
    return None


def check_common(msg: ai_pb2.Anomaly | ai_pb2.Evidence | ai_pb2.Policy) -> Failure:
    """Rules 1-4, shared by the three ai.* messages."""
    if msg.schema_version not in SUPPORTED_SCHEMA_VERSIONS:
        return (Reason.UNSUPPORTED_VERSION, f"schema_version {msg.schema_version} not supported")
    if not 0 < len(msg.id) <= MAX_ID_LEN:
        return _bad(f"id: length {len(msg.id)} not in 1..{MAX_ID_LEN}")
    if not 0 < len(msg.producer_id) <= MAX_PRODUCER_ID_LEN:
        return _bad(f"producer_id: length {len(msg.producer_id)} not in 1..{MAX_PRODUCER_ID_LEN}")
    if msg.ts <= 0:
        return _bad(f"ts: {msg.ts} is not a positive ms timestamp")
    if len(msg.signature) != SIGNATURE_LEN:
        return _bad(f"signature: {len(msg.signature)} bytes, expected {SIGNATURE_LEN}")
    if len(msg.pubkey) != PUBKEY_LEN:
        return _bad(f"pubkey: {len(msg.pubkey)} bytes, expected {PUBKEY_LEN}")
    return None


def check_anomaly(msg: ai_pb2.Anomaly) -> Failure:
    """Rule 5."""
    failure = (
        _text(msg.type, "type", 1, MAX_NAME_LEN)
        or _text(msg.source, "source", 1, MAX_ID_LEN)
        or _text(msg.model_version, "model_version", 0, MAX_NAME_LEN)
    )
    if failure:
        return failure
    if msg.severity > MAX_SEVERITY:
        return _bad(f"severity: {msg.severity} not in 0..{MAX_SEVERITY}")
    if msg.confidence > MAX_CONFIDENCE:
        return _bad(f"confidence: {msg.confidence} not in 0..{MAX_CONFIDENCE}")
    if len(msg.payload_hash) != HASH_LEN:
        return _bad(f"payload_hash: {len(msg.payload_hash)} bytes, expected {HASH_LEN}")
    if hashlib.sha256(msg.payload).digest() != msg.payload_hash:
        return (Reason.BAD_PAYLOAD_HASH, "payload_hash is not SHA-256(payload)")
    return None


def check_evidence(msg: ai_pb2.Evidence) -> Failure:
    """Rule 6."""
    failure = _text(msg.evidence_type, "evidence_type", 1, MAX_NAME_LEN)
    if failure:
        return failure
    refs = msg.refs
    if not 0 < len(refs) <= MAX_REFS:
        return _bad(f"refs: {len(refs)} entries, expected 1..{MAX_REFS}")
    for i, ref in enumerate(refs):
        if not 0 < len(ref) <= MAX_ID_LEN:
            return _bad(f"refs[{i}]: length {len(ref)} not in 1..{MAX_ID_LEN}")
    if len(set(refs)) != len(refs):
        return _bad("refs: an anomaly id is repeated")
    return None


def check_policy(msg: ai_pb2.Policy) -> Failure:
    """Rule 7."""
    if msg.action not in KNOWN_ACTIONS:
        return _bad(f"action: {msg.action} is not a known policy action")
    failure = _text(msg.rule, "rule", 1, MAX_ID_LEN)
    if failure:
        return failure
    params = msg.params
    if len(params) > MAX_PARAMS:
        return _bad(f"params: {len(params)} entries, more than {MAX_PARAMS}")
    previous = ""
    for i, param in enumerate(params):
        if not 0 < len(param.key) <= MAX_NAME_LEN:
            return _bad(f"params[{i}].key: length {len(param.key)} not in 1..{MAX_NAME_LEN}")
        if i and param.key <= previous:
            return _bad(f"params[{i}].key: {param.key!r} not after {previous!r} (sorted, unique)")
        previous = param.key
    return None
