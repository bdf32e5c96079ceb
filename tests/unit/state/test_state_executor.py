"""Reducers, events, receipts and block validity of the executor (docs/STATE.md)."""

from __future__ import annotations

import pytest

from cybermesh.block import BlockShapeError, build_block
from cybermesh.proto.v1 import ai_pb2, block_pb2
from cybermesh.state import InvalidBlockError
from cybermesh.state import sample as s
from cybermesh.state.machine import StateMachine
from cybermesh.state.records import Quarantine, Reputation, quarantine_key, reputation_key
from cybermesh.state.reducers import anomaly_delta
from cybermesh.wire import strict
from cybermesh.wire.topics import ANOMALIES, CONTROL_EVIDENCE, CONTROL_POLICY, CONTROL_REPUTATION
from tests.unit.state.conftest import T0, genesis_with, new_machine, raw_block, run

A, SET, QUAR, REL, REVOKE = (
    block_pb2.TX_KIND_ANOMALY,
    ai_pb2.POLICY_ACTION_SET_PARAM,
    ai_pb2.POLICY_ACTION_QUARANTINE,
    ai_pb2.POLICY_ACTION_RELEASE,
    ai_pb2.POLICY_ACTION_REVOKE_PRODUCER,
)


def rep(m: StateMachine, entity: str) -> Reputation | None:
    raw = m.view.get(reputation_key(entity))
    return None if raw is None else Reputation.decode(raw)


def quarantined(m: StateMachine, entity: str) -> bool:
    return m.view.get(quarantine_key(entity)) is not None


def an(id: str, source: str = "h1", sev: int = 10, conf: int = 10_000, nonce: int | None = None, producer: str = "det-0", ts: int = T0 + 500) -> block_pb2.Tx:
    return s.anomaly(producer, id, source, sev, conf, ts, nonce if nonce is not None else abs(hash(id)) % 10**9)


@pytest.mark.parametrize(
    ("sev", "conf", "delta"), [(0, 10_000, 0), (1, 1, -1), (1, 100, -1), (1, 101, -2), (3, 333, -10), (10, 10_000, -1_000)]
)
def test_anomaly_delta_is_floor_of_negative(sev: int, conf: int, delta: int) -> None:
    assert anomaly_delta(sev, conf) == delta


def test_anomalies_lower_reputation_and_quarantine_at_threshold(machine: StateMachine) -> None:
    ex = run(machine, [an(f"a{i}", nonce=i) for i in range(5)])  # 5 x -1000 = -5000 == threshold
    assert [r.status for r in ex.receipts] == ["applied"] * 5
    assert rep(machine, "h1") == Reputation(-5000, 5, 1)
    assert quarantined(machine, "h1")
    topics = [e.topic for e in ex.events]
    assert topics == [CONTROL_REPUTATION] * 5 + [CONTROL_POLICY]
    assert [e.message.index for e in ex.events] == list(range(6))  # type: ignore[attr-defined]
    assert all(e.message.height == 1 and e.message.ts == machine.parent.timestamp for e in ex.events)  # type: ignore[attr-defined]
    assert ex.events[-1].message.change == "quarantine h1"  # type: ignore[attr-defined]
    # a further anomaly does not quarantine twice
    ex2 = run(machine, [an("a9", nonce=9)])
    assert [e.topic for e in ex2.events] == [CONTROL_REPUTATION]


def test_reputation_is_clamped_to_params() -> None:
    m = new_machine(genesis_with(reputation_min=-1_500, quarantine_threshold=-10_000))
    ex = run(m, [an("a1", nonce=1), an("a2", nonce=2)])
    assert rep(m, "h1") == Reputation(-1_500, 2, 1)
    assert [e.message.delta for e in ex.events] == [-1_000, -500]  # type: ignore[attr-defined]
    assert not quarantined(m, "h1")


def test_duplicate_anomaly_id_is_recorded_without_effect(machine: StateMachine) -> None:
    ex = run(machine, [an("a1", nonce=1), an("a1", source="h2", nonce=2)])
    assert [r.status for r in ex.receipts] == ["applied", "duplicate_id"]
    assert rep(machine, "h2") is None


def test_evidence_accepted_applies_each_delta_once(machine: StateMachine) -> None:
    run(machine, [an("a1", sev=5, conf=2_000, nonce=1), an("a2", source="h2", sev=1, conf=5_000, nonce=2)])
    ex = run(machine, [s.evidence("analyst-0", "e1", ["a2", "a1"], T0 + 1_500, 1)])
    assert ex.receipts[0].status == "accepted"
    assert rep(machine, "h1").score == -200  # type: ignore[union-attr]
    assert rep(machine, "h2").score == -100  # type: ignore[union-attr]
    assert [e.topic for e in ex.events] == [CONTROL_REPUTATION, CONTROL_REPUTATION, CONTROL_EVIDENCE]
    assert ex.events[0].message.entity_id == "h1"  # refs applied in sorted order  # type: ignore[attr-defined]
    assert ex.events[-1].message.action == "penalize 2"  # type: ignore[attr-defined]
    ex2 = run(machine, [s.evidence("analyst-0", "e2", ["a1"], T0 + 2_500, 2)])
    assert (ex2.receipts[0].status, ex2.receipts[0].detail) == ("accepted", "none")
    assert rep(machine, "h1").score == -200  # type: ignore[union-attr]


@pytest.mark.parametrize("refs", [[], ["a1", "a1"], ["a1", "nope"]])
def test_evidence_rejected_is_recorded(machine: StateMachine, refs: list[str]) -> None:
    run(machine, [an("a1", nonce=1)])
    ex = run(machine, [s.evidence("analyst-0", "e1", refs, T0 + 1_500, 1)])
    assert ex.receipts[0].status == "rejected"
    assert [(e.topic, e.message.status) for e in ex.events] == [(CONTROL_EVIDENCE, "rejected")]  # type: ignore[attr-defined]
    ex2 = run(machine, [s.evidence("analyst-0", "e1", ["a1"], T0 + 2_500, 2)])
    assert ex2.receipts[0].status == "duplicate_id"


def test_policy_actions(machine: StateMachine) -> None:
    ts = T0 + 500
    ex = run(machine, [
        s.policy("admin-0", "p1", SET, "quarantine_threshold", ts, 1, value=-900),
        s.policy("admin-0", "p2", SET, "no_such_param", ts, 2, value=1),
        s.policy("admin-0", "p3", SET, "quarantine_threshold", ts, 3, value=5),
        an("a1", nonce=1),
        s.policy("admin-0", "p4", QUAR, "h9", ts, 4),
        s.policy("admin-0", "p5", QUAR, "h9", ts, 5),
        s.policy("admin-0", "p6", REL, "h1", ts, 6),
        s.policy("admin-0", "p7", REL, "h1", ts, 7),
        s.policy("admin-0", "p8", REVOKE, "det-1", ts, 8),
        s.policy("admin-0", "p9", REVOKE, "ghost", ts, 9),
    ])
    assert [r.status for r in ex.receipts] == [
        "applied", "rejected_param", "rejected_param", "applied", "applied", "noop", "applied", "noop", "applied", "unknown_target",
    ]
    changes = [e.message.change for e in ex.events if e.topic == CONTROL_POLICY]  # type: ignore[attr-defined]
    assert changes == ["set quarantine_threshold -900", "quarantine h1", "quarantine h9", "release h1", "revoke det-1"]
    assert rep(machine, "h1").score == 0  # type: ignore[union-attr]  # release resets negative reputation
    assert not quarantined(machine, "h1") and quarantined(machine, "h9")
    assert Quarantine.decode(machine.view.get(quarantine_key("h9")) or b"").reason == "policy:p4"
    with pytest.raises(InvalidBlockError) as err:
        machine.execute(raw_block(machine, [an("a2", producer="det-1", nonce=1)]))
    assert err.value.reason == "revoked_producer"


def test_policy_needs_policy_admin_role() -> None:
    m = new_machine(genesis_with([{"producer_id": "ops-0", "topics": ["ai.policy.v1"], "roles": ["analyst"]}]))
    ex = run(m, [s.policy("ops-0", "p1", QUAR, "h1", T0 + 500, 1)])
    assert ex.receipts[0].status == "unauthorized" and ex.events == ()


def test_revocation_earlier_in_block_invalidates_later_tx(machine: StateMachine) -> None:
    block = raw_block(machine, [s.policy("admin-0", "p1", REVOKE, "det-0", T0 + 500, 1), an("a1", nonce=1)])
    with pytest.raises(InvalidBlockError) as err:
        machine.execute(block)
    assert (err.value.index, err.value.reason) == (1, "revoked_producer")


def _resigned(tx: block_pb2.Tx, **fields: object) -> block_pb2.Tx:
    msg = strict.decode_strict(ai_pb2.Anomaly, tx.raw)
    for k, v in fields.items():
        setattr(msg, k, v)
    return s.tx(ANOMALIES, msg)


def _bad_signature(tx: block_pb2.Tx) -> block_pb2.Tx:
    msg = strict.decode_strict(ai_pb2.Anomaly, tx.raw)
    msg.signature = bytes(64)
    return block_pb2.Tx(schema_version=1, kind=A, raw=strict.encode(msg))


def _wrong_key(tx: block_pb2.Tx) -> block_pb2.Tx:
    msg = strict.decode_strict(ai_pb2.Anomaly, tx.raw)
    return s.tx(ANOMALIES, msg, signer="det-1")


CASES = {
    "bad_signature": lambda: [an("x1", nonce=11), _bad_signature(an("x2", nonce=12))],
    "bad_encoding": lambda: [block_pb2.Tx(schema_version=1, kind=A, raw=b"\xff\xff")],
    "bad_field": lambda: [_resigned(an("x1", nonce=11), severity=11)],
    "bad_schema": lambda: [_resigned(an("x1", nonce=11), schema_version=2)],
    "unknown_producer": lambda: [_resigned(an("x1", nonce=11), producer_id="ghost")],
    "topic_not_allowed": lambda: [s.anomaly("analyst-0", "x1", "h", 1, 1, T0 + 500, 11)],
    "pubkey_mismatch": lambda: [_wrong_key(an("x1", nonce=11))],
    "stale": lambda: [an("x1", nonce=11, ts=T0 + 2_000 - 600_001)],
    "future": lambda: [an("x1", nonce=11, ts=T0 + 2_000 + 60_001)],
    "replay": lambda: [an("x1", nonce=7), an("x2", nonce=7)],
    "already_committed": lambda: [an("first", nonce=1)],
}


@pytest.mark.parametrize("reason", sorted(CASES))
def test_invalid_tx_rejects_whole_block_and_leaves_state_untouched(reason: str) -> None:
    m = new_machine()
    run(m, [an("first", nonce=1)])
    before = dict(m.tree.store.data)  # type: ignore[attr-defined]
    block = raw_block(m, CASES[reason]())
    with pytest.raises(InvalidBlockError) as err:
        m.execute(block)
    assert err.value.reason == reason
    assert err.value.index == len(block.txs) - 1
    assert m.tree.store.data == before  # type: ignore[attr-defined]
    assert m.height == 1


def test_duplicate_tx_in_block_is_rejected(machine: StateMachine) -> None:
    tx = an("x1", nonce=1)
    block = raw_block(machine, [tx])
    block.txs.append(tx)
    block.header.tx_count = 2
    with pytest.raises(BlockShapeError, match=r"duplicate_tx|tx_root_mismatch"):
        machine.execute(block)
    from cybermesh.state import execute_block

    with pytest.raises(InvalidBlockError) as err:
        execute_block(machine.view, block, machine.limits)
    assert (err.value.index, err.value.reason) == (1, "duplicate")


def test_block_shape_errors_via_machine(machine: StateMachine) -> None:
    far = raw_block(machine, [], ts=machine.parent.timestamp + 1)
    far.header.timestamp = machine.parent.timestamp + machine.limits.max_interval_ms + 1
    with pytest.raises(BlockShapeError, match="ts_too_far"):
        machine.execute(far)
    orphan = build_block(machine.parent, [], "v0", 1, T0 + 5, machine.tree.root(), "cybermesh-sample", machine.limits)
    orphan.header.parent_hash = b"\x01" * 32
    with pytest.raises(BlockShapeError, match="wrong_parent"):
        machine.execute(orphan)
    hint = raw_block(machine, [])
    hint.header.state_root_hint = bytes(32)
    with pytest.raises(BlockShapeError, match="state_root_mismatch"):
        machine.execute(hint)
    too_many = raw_block(machine, [an(f"x{i}", nonce=i) for i in range(3)])
    machine.limits = type(machine.limits)(max_txs=2)
    with pytest.raises(BlockShapeError, match="too_many_txs"):
        machine.execute(too_many)


def test_proposer_filters_invalid_and_block_then_executes(machine: StateMachine) -> None:
    run(machine, [an("first", nonce=1)])
    odd = block_pb2.Tx(schema_version=0, kind=A, raw=an("odd", nonce=5).raw)
    candidates = [an("ok1", nonce=2), an("first", nonce=1), _bad_signature(an("x", nonce=3)), an("ok2", nonce=2), odd, an("ok3", nonce=4)]
    block, rejected = machine.propose(candidates, "v1", 2, machine.parent.timestamp + 1_000)
    assert [r.reason for r in rejected] == ["already_committed", "bad_signature", "replay", "bad_encoding"]
    assert len(block.txs) == 2
    ex = machine.execute(block)
    assert [r.status for r in ex.receipts] == ["applied", "applied"]


def test_changes_are_sorted_and_deterministic(machine: StateMachine) -> None:
    txs = [an(f"a{i}", source=f"h{i % 3}", nonce=i) for i in range(6)]
    ex = machine.execute(raw_block(machine, txs))
    keys = [k for k, _ in ex.changes]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    other = new_machine()
    assert other.execute(raw_block(other, txs)).changes == ex.changes


def test_verified_set_skips_signature_check_only_for_listed_hashes(machine: StateMachine) -> None:
    bad = _bad_signature(an("x", nonce=3))
    from hashlib import sha256

    ex = machine.execute(raw_block(machine, [bad]), verified={sha256(bad.raw).digest()})
    assert ex.receipts[0].status == "applied"
    with pytest.raises(InvalidBlockError, match="bad_signature"):
        machine.execute(raw_block(machine, [bad]), verified=set())


def test_tx_ts_window_edges_are_inclusive(machine: StateMachine) -> None:
    block_ts = machine.parent.timestamp + 1_000
    lo, hi = block_ts - machine.limits.max_tx_age_ms, block_ts + machine.limits.max_tx_future_ms
    ex = run(machine, [an("old", nonce=1, ts=lo), an("new", nonce=2, ts=hi)], ts=block_ts)
    assert [r.status for r in ex.receipts] == ["applied", "applied"]


def test_filter_applies_block_limits_so_builder_drops_nothing() -> None:
    from cybermesh.block import BlockLimits, select_txs
    from cybermesh.state import filter_txs

    m = new_machine()
    txs = [an(f"x{i}", nonce=10 + i) for i in range(6)]
    assert len({len(t.raw) for t in txs}) == 1
    size = len(txs[0].raw)
    limits = BlockLimits(max_txs=4, max_bytes=size * 3 + 1)
    accepted, rejected = filter_txs(m.view, txs, 1, T0 + 1_000, limits)
    assert len(accepted) == 3 and rejected == []
    assert select_txs(accepted, limits) == accepted
    accepted, _ = filter_txs(m.view, txs, 1, T0 + 1_000, BlockLimits(max_txs=2))
    assert [t.raw for t in accepted] == [t.raw for t in txs[:2]]
