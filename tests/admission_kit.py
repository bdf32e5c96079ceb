"""Builders for admission/mempool tests and benchmarks: keys, genesis, signed ai.* records."""

from __future__ import annotations

import hashlib
from typing import Any

import nacl.signing

from cybermesh.genesis import Genesis, parse_genesis
from cybermesh.proto.v1 import ai_pb2
from cybermesh.wire import signing, topics
from cybermesh.wire.strict import encode

NOW = 1_767_225_600_000
"""A fixed 'now' (2026-01-01T00:00:00Z) for pure tests."""


def key(n: int) -> nacl.signing.SigningKey:
    """Deterministic Ed25519 key number n."""
    return signing.key_from_seed(hashlib.sha256(b"admission-kit/%d" % n).digest())


def make_genesis(producers: list[tuple[str, int, list[str]]] | None = None) -> Genesis:
    """Genesis with producers given as (producer_id, key number, topics)."""
    if producers is None:
        producers = [
            ("det-1", 1, [topics.ANOMALIES]),
            ("ana-1", 2, [topics.EVIDENCE]),
            ("pol-1", 3, [topics.POLICY]),
            ("all-1", 4, list(topics.AI_TOPICS)),
        ]
    roles = {
        topics.ANOMALIES: "detector",
        topics.EVIDENCE: "analyst",
        topics.POLICY: "policy_admin",
    }
    v = key(100)
    return parse_genesis(
        {
            "chain_id": "test",
            "genesis_time": NOW - 1000,
            "validators": [
                {
                    "id": "v0",
                    "consensus_pubkey": bytes(v.verify_key).hex(),
                    "node_pubkey": bytes(key(101).verify_key).hex(),
                    "address": "/ip4/127.0.0.1/tcp/7100",
                }
            ],
            "producers": [
                {
                    "producer_id": pid,
                    "pubkey": bytes(key(k).verify_key).hex(),
                    "topics": ts,
                    "roles": sorted({roles[t] for t in ts}),
                }
                for pid, k, ts in producers
            ],
        }
    )


def anomaly(
    nonce: int = 1, ts: int = NOW, producer_id: str = "det-1", **fields: Any
) -> ai_pb2.Anomaly:
    payload = fields.pop("payload", b'{"port": 22}')
    msg = ai_pb2.Anomaly(
        schema_version=1,
        id=f"a-{producer_id}-{nonce}",
        type="port_scan",
        source="10.0.0.7",
        severity=7,
        confidence=8500,
        ts=ts,
        payload=payload,
        payload_hash=hashlib.sha256(payload).digest(),
        model_version="m-1",
        producer_id=producer_id,
        nonce=nonce,
    )
    _set(msg, fields)
    return msg


def evidence(
    nonce: int = 1, ts: int = NOW, producer_id: str = "ana-1", **fields: Any
) -> ai_pb2.Evidence:
    msg = ai_pb2.Evidence(
        schema_version=1,
        id=f"e-{producer_id}-{nonce}",
        evidence_type="pcap",
        refs=["a-det-1-1", "a-det-1-2"],
        proof_blob=b"\x01\x02",
        ts=ts,
        producer_id=producer_id,
        nonce=nonce,
    )
    _set(msg, fields)
    return msg


def policy(
    nonce: int = 1, ts: int = NOW, producer_id: str = "pol-1", **fields: Any
) -> ai_pb2.Policy:
    msg = ai_pb2.Policy(
        schema_version=1,
        id=f"p-{producer_id}-{nonce}",
        action=ai_pb2.POLICY_ACTION_SET_PARAM,
        rule="quarantine_threshold",
        ts=ts,
        producer_id=producer_id,
        nonce=nonce,
        params=[ai_pb2.PolicyParam(key="value", int_value=-4000)],
    )
    _set(msg, fields)
    return msg


def _set(msg: Any, fields: dict[str, Any]) -> None:
    for name, value in fields.items():
        if isinstance(value, list):
            msg.ClearField(name)
            getattr(msg, name).extend(value)
        else:
            setattr(msg, name, value)


BUILDERS = {topics.ANOMALIES: anomaly, topics.EVIDENCE: evidence, topics.POLICY: policy}
PRODUCER_KEY = {"det-1": 1, "ana-1": 2, "pol-1": 3, "all-1": 4, "burst-1": 5}


def signed(topic: str, msg: Any, key_number: int | None = None) -> bytes:
    """Sign `msg` for `topic` with the producer's key (or key number `key_number`); encode it."""
    k = key(PRODUCER_KEY.get(msg.producer_id, 99) if key_number is None else key_number)
    signing.sign(topic, msg, k)
    return encode(msg)


def valid(topic: str, nonce: int = 1, ts: int = NOW, **fields: Any) -> bytes:
    """A valid signed record for `topic` from its default producer."""
    return signed(topic, BUILDERS[topic](nonce=nonce, ts=ts, **fields))
