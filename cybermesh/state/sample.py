"""Deterministic sample genesis and signed transactions for tests, vectors and benchmarks.

Keys come from fixed seeds: ``seed(name) = SHA-256(b"cybermesh/sample-seed/" + name)``.
Never use these keys outside tests.
"""

from __future__ import annotations

import hashlib
from typing import Any

import nacl.signing

from cybermesh.genesis import Genesis, parse_genesis
from cybermesh.proto.v1 import ai_pb2, block_pb2
from cybermesh.wire import signing, strict
from cybermesh.wire.topics import ANOMALIES, EVIDENCE, POLICY, TX_KIND_BY_TOPIC

CHAIN_ID = "cybermesh-sample"
GENESIS_TIME = 1_767_225_600_000


def seed(name: str) -> bytes:
    return hashlib.sha256(b"cybermesh/sample-seed/" + name.encode()).digest()


def key(name: str) -> nacl.signing.SigningKey:
    return signing.key_from_seed(seed(name))


def _hex(name: str) -> str:
    return bytes(key(name).verify_key).hex()


def sample_genesis(detectors: int = 2, params: dict[str, int] | None = None) -> Genesis:
    """4 validators v0..v3; producers det-0..det-{n-1} (anomalies), analyst-0 (evidence),
    admin-0 (policy_admin on ai.policy.v1)."""
    producers: list[dict[str, Any]] = [
        {"producer_id": f"det-{i}", "pubkey": _hex(f"det-{i}"), "topics": [ANOMALIES], "roles": ["detector"]}
        for i in range(detectors)
    ]
    producers.append({"producer_id": "analyst-0", "pubkey": _hex("analyst-0"), "topics": [EVIDENCE], "roles": ["analyst"]})
    producers.append({"producer_id": "admin-0", "pubkey": _hex("admin-0"), "topics": [POLICY], "roles": ["policy_admin"]})
    return parse_genesis(
        {
            "chain_id": CHAIN_ID,
            "genesis_time": GENESIS_TIME,
            "validators": [
                {
                    "id": f"v{i}",
                    "consensus_pubkey": _hex(f"v{i}/consensus"),
                    "node_pubkey": _hex(f"v{i}/node"),
                    "address": f"/ip4/127.0.0.1/tcp/{47100 + i}",
                }
                for i in range(4)
            ],
            "producers": producers,
            "params": params or {},
        }
    )


def tx(topic: str, msg: Any, signer: str | None = None) -> block_pb2.Tx:
    """Sign `msg` with the key of `signer` (default: msg.producer_id) and wrap it as a Tx."""
    signing.sign(topic, msg, key(signer or msg.producer_id))
    return block_pb2.Tx(schema_version=1, kind=TX_KIND_BY_TOPIC[topic], raw=strict.encode(msg))  # type: ignore[arg-type]


def anomaly(producer: str, id: str, source: str, severity: int, confidence: int, ts: int, nonce: int) -> block_pb2.Tx:
    payload = f"{producer}/{id}".encode()
    return tx(
        ANOMALIES,
        ai_pb2.Anomaly(
            schema_version=1, id=id, type="port_scan", source=source, severity=severity,
            confidence=confidence, ts=ts, payload_hash=hashlib.sha256(payload).digest(),
            payload=payload, model_version="m1", producer_id=producer, nonce=nonce,
        ),
    )


def evidence(producer: str, id: str, refs: list[str], ts: int, nonce: int) -> block_pb2.Tx:
    return tx(
        EVIDENCE,
        ai_pb2.Evidence(
            schema_version=1, id=id, evidence_type="pcap", refs=refs, proof_blob=b"blob",
            ts=ts, producer_id=producer, nonce=nonce,
        ),
    )


def policy(producer: str, id: str, action: int, rule: str, ts: int, nonce: int, value: int | None = None) -> block_pb2.Tx:
    params = [ai_pb2.PolicyParam(key="value", int_value=value)] if value is not None else []
    return tx(
        POLICY,
        ai_pb2.Policy(
            schema_version=1, id=id, action=action, rule=rule, params=params, ts=ts,  # type: ignore[arg-type]
            producer_id=producer, nonce=nonce,
        ),
    )


def _pick(label: str, n: int) -> int:
    """A deterministic pseudo-random integer in [0, n) (no `random` in pure code)."""
    return int.from_bytes(hashlib.sha256(label.encode()).digest()[:8], "big") % n


def workload(height: int, per_block: int, timestamp: int, detectors: int = 2) -> list[block_pb2.Tx]:
    """Candidate txs for block `height`: anomalies on ~20 entities from every detector, an
    evidence every 3rd block (one with an unknown ref every 6th), a policy every 5th block
    (set param, quarantine, release, revoke det-1 at height 20), a duplicate anomaly id every
    7th block. Deterministic in its arguments."""
    out: list[block_pb2.Tx] = []
    for i in range(per_block):
        det = f"det-{_pick(f'd{height}/{i}', detectors)}"
        out.append(
            anomaly(
                det, f"a{height}-{i}", f"10.0.0.{_pick(f's{height}/{i}', 20)}",
                _pick(f'sev{height}/{i}', 11), _pick(f'conf{height}/{i}', 10_001),
                timestamp - _pick(f'age{height}/{i}', 50_000), height * 1_000_000 + i,
            )
        )
    if height % 7 == 0 and height > 1:
        out.append(anomaly("det-0", f"a{height - 1}-0", "10.0.0.99", 5, 5000, timestamp, height * 1_000_000 + 999_999))
    if height % 3 == 0 and height > 1:
        refs = [f"a{height - 1}-{j}" for j in range(min(3, per_block))]
        if height % 6 == 0:
            refs.append("no-such-anomaly")
        out.append(evidence("analyst-0", f"e{height}", refs, timestamp, height))
    if height % 5 == 0:
        kind = (height // 5) % 4
        if height == 20:
            out.append(policy("admin-0", f"p{height}", ai_pb2.POLICY_ACTION_REVOKE_PRODUCER, "det-1", timestamp, height))
        elif kind == 0:
            out.append(policy("admin-0", f"p{height}", ai_pb2.POLICY_ACTION_SET_PARAM, "quarantine_threshold", timestamp, height, value=-2000 - height))
        elif kind == 1:
            out.append(policy("admin-0", f"p{height}", ai_pb2.POLICY_ACTION_QUARANTINE, f"host-{height}", timestamp, height))
        else:
            out.append(policy("admin-0", f"p{height}", ai_pb2.POLICY_ACTION_RELEASE, f"10.0.0.{height % 20}", timestamp, height))
    return out


def golden_chain(blocks: int = 21, per_block: int = 6) -> dict[str, Any]:
    """The golden vectors of tests/vectors/state/chain.json (scripts/gen_state_vectors.py):
    the sample genesis, `blocks` blocks of `workload`, and per block its hash, state root,
    receipt statuses and a digest of its events, plus proofs at the last version."""
    from cybermesh.state.machine import StateMachine
    from cybermesh.state.nodestore import MemoryNodeStore
    from cybermesh.state.tree import VersionedTree

    genesis = sample_genesis()
    m = StateMachine(VersionedTree(MemoryNodeStore()), genesis)
    out: dict[str, Any] = {"genesis": genesis.to_json(), "genesis_root": m.start().hex(), "blocks": []}
    for h in range(1, blocks + 1):
        ts = GENESIS_TIME + h * 2_000
        block, _ = m.propose(workload(h, per_block, ts), f"v{h % 4}", h, ts)
        ex = m.execute(block)
        root = m.commit(block, ex)
        out["blocks"].append(
            {
                "height": h,
                "block": strict.encode(block).hex(),
                "block_hash": ex.block_hash.hex(),
                "state_root": root.hex(),
                "receipts": [r.status for r in ex.receipts],
                "events_sha256": events_digest(ex.events).hex(),
            }
        )
    keys = [b"rep/10.0.0.3", b"quarantine/10.0.0.3", b"producer/det-1", b"param/quarantine_threshold", b"rep/nobody"]
    out["proofs"] = [
        {
            "version": blocks,
            "key": k.hex(),
            "value": (lambda v: None if v is None else v.hex())(m.tree.get(k)),
            "proof": m.tree.prove(k).encode().hex(),
        }
        for k in keys
    ]
    return out


def events_digest(events: Any) -> bytes:
    """SHA-256 over ``topic || 0x00 || u32 len || deterministic encoding`` of each event."""
    h = hashlib.sha256()
    for e in events:
        raw = strict.encode(e.message)
        h.update(e.topic.encode() + b"\x00" + len(raw).to_bytes(4, "big") + raw)
    return h.digest()
