"""Signing test vectors (tests/vectors/signing.json), generated deterministically.

    python -m cybermesh.vectors [--out tests/vectors/signing.json] [--check]
    scripts/gen-vectors [--check]

Everything is derived from fixed inputs: key seeds are SHA-256 of fixed labels, timestamps
and nonces are constants, and Ed25519 signatures are deterministic (RFC 8032), so running the
generator twice gives byte-identical output. `--check` fails if the checked-in file differs
(a test does the same). The contract the vectors illustrate is written in docs/SIGNING.md.

`valid` vectors: topic, seed, public key, the message fields in the JSON form of
`cybermesh.wire.fields` (everything except `signature`), signing_bytes, signature, the
serialized message and its tx hash. `invalid` vectors: a serialized record and the reason a
validator rejects it (the codes of `cybermesh.wire.record`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import nacl.signing
from google.protobuf.message import Message

from cybermesh.proto.v1 import ai_pb2
from cybermesh.wire.fields import to_fields
from cybermesh.wire.signing import key_from_seed, payload_hash, signing_bytes, tx_hash
from cybermesh.wire.strict import encode
from cybermesh.wire.topics import ANOMALIES, EVIDENCE, POLICY

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "tests" / "vectors" / "signing.json"
TS = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms


def vector_seed(label: str) -> bytes:
    """The seed of a named vector key: SHA-256("cybermesh/v1 test vector key " + label)."""
    return hashlib.sha256(b"cybermesh/v1 test vector key " + label.encode()).digest()


def _signed(topic: str, msg: Message, key: nacl.signing.SigningKey) -> Message:
    msg.pubkey = bytes(key.verify_key)  # type: ignore[attr-defined]
    msg.signature = key.sign(signing_bytes(topic, msg)).signature  # type: ignore[attr-defined]
    return msg


def _messages() -> list[tuple[str, str, str, Message]]:
    """(name, topic, key label, unsigned message) of every valid vector."""
    payload = b'{"dst_ports":[22,80,443],"src":"10.0.0.7","window_s":60}'
    blob = bytes(range(256))
    return [
        (
            "anomaly-basic",
            ANOMALIES,
            "A",
            ai_pb2.Anomaly(
                schema_version=1,
                id="an-0001",
                type="port_scan",
                source="10.0.0.7",
                severity=7,
                confidence=9250,
                ts=TS,
                payload_hash=payload_hash(payload),
                payload=payload,
                model_version="ids-2026.11",
                producer_id="det-1",
                nonce=1,
            ),
        ),
        (
            "anomaly-edge-values",
            ANOMALIES,
            "A",
            ai_pb2.Anomaly(
                schema_version=1,
                id="an-ünïcode-✓",
                type="exfiltration",
                source="host:db-01",
                severity=0,
                confidence=10_000,
                ts=TS + 1,
                payload_hash=payload_hash(b""),
                model_version="",
                producer_id="det-1",
                nonce=2**64 - 1,
            ),
        ),
        (
            "evidence-basic",
            EVIDENCE,
            "B",
            ai_pb2.Evidence(
                schema_version=1,
                id="ev-0001",
                evidence_type="pcap_digest",
                refs=["an-0001", "an-ünïcode-✓"],
                proof_blob=blob,
                ts=TS + 2,
                producer_id="ana-1",
                nonce=1_767_225_600_000_000,
            ),
        ),
        (
            "policy-set-param",
            POLICY,
            "C",
            ai_pb2.Policy(
                schema_version=1,
                id="po-0001",
                action=ai_pb2.POLICY_ACTION_SET_PARAM,
                rule="quarantine_threshold",
                params=[ai_pb2.PolicyParam(key="value", int_value=-5000)],
                ts=TS + 3,
                producer_id="pol-1",
                nonce=3,
            ),
        ),
        (
            "policy-quarantine",
            POLICY,
            "C",
            ai_pb2.Policy(
                schema_version=1,
                id="po-0002",
                action=ai_pb2.POLICY_ACTION_QUARANTINE,
                rule="10.0.0.7",
                params=[
                    ai_pb2.PolicyParam(key="reason", str_value="evidence ev-0001"),
                    ai_pb2.PolicyParam(key="ttl_ms", int_value=3_600_000),
                ],
                ts=TS + 4,
                producer_id="pol-1",
                nonce=4,
            ),
        ),
    ]


def _valid(name: str, topic: str, label: str, msg: Message) -> dict[str, Any]:
    key = key_from_seed(vector_seed(label))
    _signed(topic, msg, key)
    unsigned = type(msg)()
    unsigned.CopyFrom(msg)
    unsigned.ClearField("signature")
    raw = encode(msg)
    return {
        "name": name,
        "topic": topic,
        "seed_hex": vector_seed(label).hex(),
        "pubkey_hex": bytes(key.verify_key).hex(),
        "fields": to_fields(unsigned),
        "signing_bytes_hex": signing_bytes(topic, msg).hex(),
        "signature_hex": bytes(msg.signature).hex(),  # type: ignore[attr-defined]
        "serialized_hex": raw.hex(),
        "tx_hash_hex": tx_hash(raw).hex(),
    }


def _invalid(name: str, topic: str, raw: bytes, reason: str, why: str) -> dict[str, Any]:
    return {
        "name": name,
        "topic": topic,
        "serialized_hex": raw.hex(),
        "expected_error": reason,
        "description": why,
    }


def _negatives(base: ai_pb2.Anomaly) -> list[dict[str, Any]]:
    """Invalid records derived from the signed `anomaly-basic` message."""
    key_a, key_b = key_from_seed(vector_seed("A")), key_from_seed(vector_seed("B"))
    raw = encode(base)
    out = []

    tampered = ai_pb2.Anomaly()
    tampered.CopyFrom(base)
    tampered.severity = 1
    out.append(
        _invalid(
            "tampered-field",
            ANOMALIES,
            encode(tampered),
            "bad_signature",
            "severity changed from 7 to 1 after signing",
        )
    )

    wrong_pub = ai_pb2.Anomaly()
    wrong_pub.CopyFrom(base)
    wrong_pub.pubkey = bytes(key_b.verify_key)
    out.append(
        _invalid(
            "wrong-pubkey",
            ANOMALIES,
            encode(wrong_pub),
            "bad_signature",
            "pubkey replaced by key B's; signature is still key A's",
        )
    )

    other_signer = ai_pb2.Anomaly()
    other_signer.CopyFrom(base)
    other_signer.signature = key_b.sign(signing_bytes(ANOMALIES, base)).signature
    out.append(
        _invalid(
            "signed-by-other-key",
            ANOMALIES,
            encode(other_signer),
            "bad_signature",
            "pubkey is key A's, signature made by key B over the same signing bytes",
        )
    )

    cross_topic = ai_pb2.Anomaly()
    cross_topic.CopyFrom(base)
    _signed(POLICY, cross_topic, key_a)
    out.append(
        _invalid(
            "wrong-topic-domain",
            ANOMALIES,
            encode(cross_topic),
            "bad_signature",
            "signed with topic ai.policy.v1 in the domain prefix, sent on ai.anomalies.v1",
        )
    )

    # field 99, wire type 0 (varint), value 1: tag varint 0x98 0x06, then 0x01
    out.append(
        _invalid(
            "unknown-field-appended",
            ANOMALIES,
            raw + b"\x98\x06\x01",
            "unknown_fields",
            "field 99 (varint 1) appended to a correctly signed record",
        )
    )

    head = ai_pb2.Anomaly()
    head.CopyFrom(base)
    head.ClearField("id")
    reordered = encode(head) + encode(ai_pb2.Anomaly(id=base.id))
    out.append(
        _invalid(
            "non-canonical-field-order",
            ANOMALIES,
            reordered,
            "non_canonical",
            "the same signed message with field 2 (id) moved to the end; it parses to "
            "an identical message and its signature verifies, but the bytes (and so "
            "the tx hash) differ from the canonical encoding",
        )
    )

    out.append(
        _invalid("truncated", ANOMALIES, raw[:-5], "undecodable", "the last 5 bytes are missing")
    )

    bad_hash = ai_pb2.Anomaly()
    bad_hash.CopyFrom(base)
    bad_hash.payload_hash = payload_hash(b"something else")
    _signed(ANOMALIES, bad_hash, key_a)
    out.append(
        _invalid(
            "bad-payload-hash",
            ANOMALIES,
            encode(bad_hash),
            "bad_payload_hash",
            "validly signed, but payload_hash is not SHA-256(payload)",
        )
    )

    out_of_range = ai_pb2.Anomaly()
    out_of_range.CopyFrom(base)
    out_of_range.confidence = 10_001
    _signed(ANOMALIES, out_of_range, key_a)
    out.append(
        _invalid(
            "confidence-out-of-range",
            ANOMALIES,
            encode(out_of_range),
            "bad_fields",
            "validly signed, but confidence is 10001 bp (max 10000)",
        )
    )
    return out


def generate() -> dict[str, Any]:
    """The complete vector document (deterministic)."""
    valid = []
    base: ai_pb2.Anomaly | None = None
    for name, topic, label, msg in _messages():
        valid.append(_valid(name, topic, label, msg))
        if name == "anomaly-basic":
            assert isinstance(msg, ai_pb2.Anomaly)
            base = msg
    assert base is not None
    return {
        "description": "CyberMesh signing test vectors; contract in docs/SIGNING.md",
        "generator": "scripts/gen-vectors (python -m cybermesh.vectors)",
        "domain_prefix": "cybermesh/v1/",
        "keys": [
            {
                "label": label,
                "seed_hex": vector_seed(label).hex(),
                "pubkey_hex": bytes(key_from_seed(vector_seed(label)).verify_key).hex(),
            }
            for label in ("A", "B", "C")
        ],
        "valid": valid,
        "invalid": _negatives(base),
    }


def render() -> str:
    """The file text: JSON, 2-space indent, non-ASCII kept, trailing newline."""
    return json.dumps(generate(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gen-vectors", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--check", action="store_true", help="fail if --out is not current")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(f"gen-vectors: {args.out} is stale; run scripts/gen-vectors", file=sys.stderr)
            return 1
        print(f"gen-vectors: {args.out} is current")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"gen-vectors: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
