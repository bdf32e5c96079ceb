"""The reducers of DESIGN §6: anomaly, evidence, policy (docs/STATE.md §Reducers). Pure.

Every reducer takes the block Context and a CheckedTx, writes records, emits control.*
events and returns (status, detail) for the receipt. Integer arithmetic only.
"""

from __future__ import annotations

from cybermesh.proto.v1 import ai_pb2, control_pb2
from cybermesh.state.context import Context
from cybermesh.state.params import PARAMS
from cybermesh.state.records import (
    AnomalyRecord,
    EvidenceRecord,
    Param,
    PolicyRecord,
    ProducerRecord,
    Quarantine,
    Reputation,
    anomaly_key,
    evidence_key,
    param_key,
    policy_key,
    producer_key,
    quarantine_key,
    reputation_key,
)
from cybermesh.state.validity import CheckedTx
from cybermesh.wire.topics import CONTROL_EVIDENCE, CONTROL_POLICY, CONTROL_REPUTATION

Outcome = tuple[str, str]


def anomaly_delta(severity: int, confidence_bp: int) -> int:
    """``delta = floor(-(severity * confidence_bp) / 100)`` (Python ``(-(s*c)) // 100``):
    always <= 0, rounding away from zero, e.g. (1, 1) -> -1, (10, 10000) -> -1000."""
    return (-(severity * confidence_bp)) // 100


def _quarantine(ctx: Context, entity: str, reason: str, rule_id: str) -> None:
    ctx.put(quarantine_key(entity), Quarantine(ctx.height, reason))
    ctx.emit(CONTROL_POLICY, control_pb2.PolicyEvent(rule_id=rule_id, change=f"quarantine {entity}"))


def adjust_reputation(ctx: Context, entity: str, delta: int, reason: str, anomaly: bool) -> None:
    """Rules R1-R3 (docs/STATE.md): clamp score + delta into [reputation_min,
    reputation_max], emit ReputationEvent(delta = applied change), quarantine at or below
    quarantine_threshold if not already quarantined."""
    key = reputation_key(entity)
    rep = ctx.read(key, Reputation) or Reputation(0, 0, 0)
    low, high = ctx.param("reputation_min"), ctx.param("reputation_max")
    score = min(high, max(low, rep.score + delta))
    ctx.put(key, Reputation(score, rep.anomalies + (1 if anomaly else 0), ctx.height))
    ctx.emit(
        CONTROL_REPUTATION,
        control_pb2.ReputationEvent(entity_id=entity, delta=score - rep.score, reason=reason, reputation=score),
    )
    if score <= ctx.param("quarantine_threshold") and ctx.get(quarantine_key(entity)) is None:
        _quarantine(ctx, entity, "threshold", "quarantine_threshold")


def apply_anomaly(ctx: Context, tx: CheckedTx) -> Outcome:
    msg = tx.msg
    assert isinstance(msg, ai_pb2.Anomaly)
    key = anomaly_key(msg.id)
    if ctx.get(key) is not None:
        return "duplicate_id", f"anomaly {msg.id!r} already recorded"
    delta = anomaly_delta(msg.severity, msg.confidence)
    ctx.put(key, AnomalyRecord(msg.producer_id, msg.source, delta, ctx.height, tx.index))
    adjust_reputation(ctx, msg.source, delta, f"anomaly:{msg.id}", anomaly=True)
    return "applied", ""


def apply_evidence(ctx: Context, tx: CheckedTx) -> Outcome:
    msg = tx.msg
    assert isinstance(msg, ai_pb2.Evidence)
    key = evidence_key(msg.id)
    if ctx.get(key) is not None:
        return "duplicate_id", f"evidence {msg.id!r} already recorded"
    refs = list(msg.refs)
    records = {ref: ctx.read(anomaly_key(ref), AnomalyRecord) for ref in refs}
    missing = sorted(ref for ref, rec in records.items() if rec is None)
    if not refs or len(set(refs)) != len(refs) or missing:
        why = "no refs" if not refs else ("duplicate refs" if not missing else f"unknown refs {missing}")
        ctx.put(key, EvidenceRecord(msg.producer_id, "rejected", 0, ctx.height, tx.index))
        ctx.emit(CONTROL_EVIDENCE, control_pb2.EvidenceEvent(evidence_id=msg.id, status="rejected", action="none"))
        return "rejected", why
    applied = 0
    for ref in sorted(refs):
        rec = records[ref]
        assert rec is not None
        if rec.corroborated:
            continue
        ctx.put(anomaly_key(ref), AnomalyRecord(rec.producer_id, rec.source, rec.delta, rec.height, rec.index, True))
        adjust_reputation(ctx, rec.source, rec.delta, f"evidence:{msg.id}", anomaly=False)
        applied += 1
    ctx.put(key, EvidenceRecord(msg.producer_id, "accepted", applied, ctx.height, tx.index))
    action = f"penalize {applied}" if applied else "none"
    ctx.emit(CONTROL_EVIDENCE, control_pb2.EvidenceEvent(evidence_id=msg.id, status="accepted", action=action))
    return "accepted", action


def _set_param(ctx: Context, msg: ai_pb2.Policy) -> Outcome:
    spec = PARAMS.get(msg.rule)
    values = [p.int_value for p in msg.params if p.key == "value"]
    if spec is None or not values or not spec.allows(values[0]):
        return "rejected_param", f"{msg.rule!r} is not a parameter or value missing/out of range"
    ctx.put(param_key(msg.rule), Param(values[0]))
    ctx.emit(CONTROL_POLICY, control_pb2.PolicyEvent(rule_id=msg.id, change=f"set {msg.rule} {values[0]}"))
    return "applied", ""


def _release(ctx: Context, msg: ai_pb2.Policy) -> Outcome:
    entity = msg.rule
    if ctx.get(quarantine_key(entity)) is None:
        return "noop", f"{entity!r} is not quarantined"
    ctx.put(quarantine_key(entity), None)
    ctx.emit(CONTROL_POLICY, control_pb2.PolicyEvent(rule_id=msg.id, change=f"release {entity}"))
    rep = ctx.read(reputation_key(entity), Reputation)
    if rep is not None and rep.score < 0:
        adjust_reputation(ctx, entity, -rep.score, f"release:{msg.id}", anomaly=False)
    return "applied", ""


def _revoke(ctx: Context, msg: ai_pb2.Policy) -> Outcome:
    key = producer_key(msg.rule)
    producer = ctx.read(key, ProducerRecord)
    if producer is None:
        return "unknown_target", f"producer {msg.rule!r} not registered"
    if producer.revoked_height:
        return "noop", f"producer {msg.rule!r} already revoked"
    ctx.put(key, ProducerRecord(producer.pubkey, producer.topics, producer.roles, ctx.height))
    ctx.emit(CONTROL_POLICY, control_pb2.PolicyEvent(rule_id=msg.id, change=f"revoke {msg.rule}"))
    return "applied", ""


def _policy_effect(ctx: Context, tx: CheckedTx, msg: ai_pb2.Policy) -> Outcome:
    if "policy_admin" not in tx.producer.roles:
        return "unauthorized", f"producer {msg.producer_id!r} lacks role policy_admin"
    if msg.action == ai_pb2.POLICY_ACTION_SET_PARAM:
        return _set_param(ctx, msg)
    if not msg.rule:
        return "unknown_target", "empty rule"
    if msg.action == ai_pb2.POLICY_ACTION_QUARANTINE:
        if ctx.get(quarantine_key(msg.rule)) is not None:
            return "noop", f"{msg.rule!r} already quarantined"
        _quarantine(ctx, msg.rule, f"policy:{msg.id}", msg.id)
        return "applied", ""
    if msg.action == ai_pb2.POLICY_ACTION_RELEASE:
        return _release(ctx, msg)
    return _revoke(ctx, msg)


def apply_policy(ctx: Context, tx: CheckedTx) -> Outcome:
    msg = tx.msg
    assert isinstance(msg, ai_pb2.Policy)
    key = policy_key(msg.id)
    if ctx.get(key) is not None:
        return "duplicate_id", f"policy {msg.id!r} already recorded"
    status, detail = _policy_effect(ctx, tx, msg)
    ctx.put(key, PolicyRecord(msg.producer_id, msg.action, msg.rule, status, ctx.height, tx.index))
    return status, detail
