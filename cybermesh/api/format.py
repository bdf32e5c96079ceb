"""JSON shapes of the API (pure: values in, plain dicts out; docs/API.md "Shapes").

Rules:
1. Bytes are lowercase hex; integers stay JSON integers; absent values are `null`.
2. A QC lists its signers in the order of the signatures (sorted by validator id) and a
   `bitmap` with one character per validator in genesis order (`1` = signed).
3. A decoded message lists its fields by field number; bytes fields as hex, repeated fields
   as lists, nested messages recursively (no proto3 JSON mapping: int64 stay integers).
4. A state value is decoded best-effort by its record tag (docs/STATE.md §2); a value that is
   not a known record gives `null`, never an error.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import fields
from typing import Any, Final

from google.protobuf.message import Message

from cybermesh.proto.v1 import ai_pb2, block_pb2
from cybermesh.state import records as srec
from cybermesh.state.smt import SparseMerkleProof

KIND_NAMES: Final[dict[int, str]] = {
    block_pb2.TX_KIND_ANOMALY: "anomaly",
    block_pb2.TX_KIND_EVIDENCE: "evidence",
    block_pb2.TX_KIND_POLICY: "policy",
}
TOPICS: Final[dict[int, str]] = {
    block_pb2.TX_KIND_ANOMALY: "ai.anomalies.v1",
    block_pb2.TX_KIND_EVIDENCE: "ai.evidence.v1",
    block_pb2.TX_KIND_POLICY: "ai.policy.v1",
}
MESSAGES: Final[dict[int, type[Message]]] = {
    block_pb2.TX_KIND_ANOMALY: ai_pb2.Anomaly,
    block_pb2.TX_KIND_EVIDENCE: ai_pb2.Evidence,
    block_pb2.TX_KIND_POLICY: ai_pb2.Policy,
}
RECORD_TYPES: Final[dict[int, type[srec.Record]]] = {
    cls.TAG: cls
    for cls in (
        srec.ProducerRecord, srec.Reputation, srec.Quarantine, srec.Param, srec.AnomalyRecord,
        srec.EvidenceRecord, srec.PolicyRecord, srec.TxRecord, srec.NonceRecord, srec.Tip,
    )
}  # fmt: skip


def hx(raw: bytes | None) -> str | None:
    return None if raw is None else raw.hex()


def qc_json(qc: block_pb2.QuorumCert | None, validator_ids: Sequence[str]) -> dict[str, Any] | None:
    """Rule 2; None for an absent (unset) QC."""
    if qc is None or not qc.HasField("vote_data"):
        return None
    vd = qc.vote_data
    signers = [s.validator_id for s in qc.signatures]
    signed = set(signers)
    return {
        "round": vd.round,
        "height": vd.height,
        "block_hash": vd.block_hash.hex(),
        "parent_hash": vd.parent_hash.hex(),
        "parent_round": vd.parent_round,
        "signers": signers,
        "bitmap": "".join("1" if v in signed else "0" for v in validator_ids),
        "signatures": [{"validator_id": s.validator_id, "signature": s.signature.hex()} for s in qc.signatures],
    }


def block_json(
    committed: block_pb2.CommittedBlock,
    block_hash: bytes,
    validator_ids: Sequence[str],
    state_root: bytes | None,
) -> dict[str, Any]:
    """A committed block: header, tx hashes, its QC and the QC that committed it."""
    h = committed.block.header
    return {
        "height": h.height,
        "hash": block_hash.hex(),
        "parent_hash": h.parent_hash.hex(),
        "round": h.round,
        "proposer": h.proposer,
        "chain_id": h.chain_id,
        "timestamp": h.timestamp,
        "tx_root": h.tx_root.hex(),
        "state_root_hint": h.state_root_hint.hex(),
        "state_root_height": h.state_root_height,
        "state_root": hx(state_root),
        "tx_count": len(committed.block.txs),
        "txs": [hashlib.sha256(tx.raw).hexdigest() for tx in committed.block.txs],
        "qc": qc_json(committed.qc, validator_ids),
        "commit_qc": qc_json(committed.commit_qc, validator_ids),
    }


def message_json(msg: Message) -> dict[str, Any]:
    """Rule 3."""
    out: dict[str, Any] = {}
    for fd in msg.DESCRIPTOR.fields:
        value = getattr(msg, fd.name)
        out[fd.name] = _field_json(fd, value)
    return out


def _field_json(fd: Any, value: Any) -> Any:
    if fd.is_repeated:
        return [_scalar_json(fd, v) for v in value]
    return _scalar_json(fd, value)


def _scalar_json(fd: Any, value: Any) -> Any:
    if fd.type == fd.TYPE_MESSAGE:
        return message_json(value)
    if fd.type == fd.TYPE_BYTES:
        return bytes(value).hex()
    return value


def tx_json(
    tx: block_pb2.Tx, height: int, index: int, status: str | None, detail: str = ""
) -> dict[str, Any]:
    """A committed transaction with its receipt and decoded message (rule 3)."""
    out: dict[str, Any] = {
        "hash": hashlib.sha256(tx.raw).hexdigest(),
        "height": height,
        "index": index,
        "kind": KIND_NAMES.get(tx.kind, f"unknown:{tx.kind}"),
        "topic": TOPICS.get(tx.kind),
        "status": status,
        "detail": detail,
        "size": len(tx.raw),
        "producer_id": None,
        "id": None,
        "nonce": None,
        "nonce_str": None,
        "ts": None,
        "message": None,
    }
    cls = MESSAGES.get(tx.kind)
    if cls is not None:
        try:
            msg: Any = cls.FromString(tx.raw)
        except Exception:  # noqa: BLE001 - committed txs parse; never fail a read on it
            return out
        out.update(producer_id=msg.producer_id, id=msg.id, nonce=msg.nonce, nonce_str=str(msg.nonce),
                   ts=msg.ts, message=message_json(msg))
    return out


def proof_json(proof: SparseMerkleProof) -> dict[str, Any]:
    """The proof as JSON (docs/API.md "StateProof"): siblings root-first, placeholders as zeros."""
    return {
        "siblings": [s.hex() for s in proof.siblings],
        "leaf": None if proof.leaf is None else {"key_hash": proof.leaf[0].hex(), "value_hash": proof.leaf[1].hex()},
        "encoded": proof.encode().hex(),
    }


def proof_from_json(obj: dict[str, Any]) -> SparseMerkleProof:
    """Inverse of `proof_json` from its `siblings` and `leaf` (what a client verifies)."""
    leaf = obj["leaf"]
    return SparseMerkleProof(
        tuple(bytes.fromhex(s) for s in obj["siblings"]),
        None if leaf is None else (bytes.fromhex(leaf["key_hash"]), bytes.fromhex(leaf["value_hash"])),
    )


def record_json(value: bytes | None) -> dict[str, Any] | None:
    """Rule 4: {"type": record class name, fields...} or None."""
    if value is None or len(value) < 2:
        return None
    cls = RECORD_TYPES.get(value[1])
    if cls is None:
        return None
    try:
        rec = cls.decode(value)
    except (srec.CodecError, ValueError):
        return None
    out: dict[str, Any] = {"type": cls.__name__}
    for f in fields(rec):  # type: ignore[arg-type]
        v = getattr(rec, f.name)
        out[f.name] = v.hex() if isinstance(v, bytes) else list(v) if isinstance(v, tuple) else v
    return out


def entity_json(
    entity_id: str, height: int, reputation: bytes | None, quarantine: bytes | None
) -> dict[str, Any]:
    """EntityDetail from the raw `rep/<id>` and `quarantine/<id>` state values."""
    rep = srec.Reputation.decode(reputation) if reputation is not None else None
    q = srec.Quarantine.decode(quarantine) if quarantine is not None else None
    return {
        "entity_id": entity_id,
        "height": height,
        "reputation": rep.score if rep else 0,
        "anomalies": rep.anomalies if rep else 0,
        "updated_height": rep.updated_height if rep else None,
        "quarantined": q is not None,
        "quarantine": None if q is None else {"since_height": q.since_height, "reason": q.reason},
    }


def error_json(code: str, message: str, parameter: str | None = None) -> dict[str, Any]:
    """The one error shape: {"error": {"code", "message"[, "parameter"]}}."""
    err: dict[str, Any] = {"code": code, "message": message}
    if parameter is not None:
        err["parameter"] = parameter
    return {"error": err}
