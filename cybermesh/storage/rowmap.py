"""Row <-> record mapping of the projection tables (used by sql.SqlStore)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, Row

from cybermesh.storage import schema as t
from cybermesh.storage.port import MAX_PAGE, BlockSummary, EntityState
from cybermesh.storage.records import (
    BlockRecord,
    EntityRecord,
    EvidenceRecord,
    SnapshotRecord,
    StateChange,
    TxRecord,
    ValidatorRecord,
)


def check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit: {limit} is outside [1, {MAX_PAGE}]")


_Plan = tuple[str, tuple[tuple[str, Callable[[Any], Any] | None], ...]]
_SQLITE_PLANS: dict[tuple[str, tuple[str, ...]], _Plan] = {}


def many(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert rows (all with the same keys).

    SQLite (the embedded default, one file per validator): the INSERT is compiled once per
    (table, columns), each value goes through its column type's bind processor, and sqlite3's
    executemany runs it, skipping SQLAlchemy's per-row parameter machinery (a tenth of a
    validator's CPU under load). PostgreSQL/CockroachDB keep Core's executemany
    ("insertmanyvalues" batching)."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(table.insert(), rows)
        return
    cols = tuple(rows[0])
    plan = _SQLITE_PLANS.get((table.name, cols))
    if plan is None:
        compiled = table.insert().compile(dialect=conn.dialect, column_keys=list(cols))
        assert compiled.positional and compiled.positiontup is not None
        processors = compiled._bind_processors  # the processors Core itself would apply
        binds = compiled.binds
        order = tuple((binds[name].key, processors.get(name)) for name in compiled.positiontup)
        assert sorted(k for k, _ in order) == sorted(cols), (order, cols)
        plan = (compiled.string, order)
        _SQLITE_PLANS[(table.name, cols)] = plan
    sql, order = plan
    params = [tuple(r[k] if p is None or r[k] is None else p(r[k]) for k, p in order) for r in rows]
    conn.exec_driver_sql(sql, params)


def tx_row(height: int, tx: TxRecord) -> dict[str, Any]:
    return {
        "height": height, "idx": tx.index, "tx_hash": tx.tx_hash, "kind": tx.kind,
        "topic": tx.topic, "producer_id": tx.producer_id, "nonce": tx.nonce, "tx_id": tx.tx_id,
        "tx_id_hash": t.id_hash(tx.tx_id),
        "ts": tx.ts, "status": tx.status, "raw": tx.raw,
    }  # fmt: skip


def tx_from_row(r: Row[Any]) -> TxRecord:
    return TxRecord(
        index=int(r.idx), tx_hash=bytes(r.tx_hash), kind=int(r.kind), topic=r.topic,
        producer_id=r.producer_id, nonce=int(r.nonce), tx_id=r.tx_id, ts=int(r.ts),
        raw=bytes(r.raw), status=int(r.status),
    )  # fmt: skip


def evidence_row(height: int, e: EvidenceRecord) -> dict[str, Any]:
    return {
        "height": height, "tx_index": e.tx_index, "evidence_id": e.evidence_id,
        "evidence_id_hash": t.id_hash(e.evidence_id),
        "producer_id": e.producer_id, "status": e.status, "action": e.action,
        "refs": json.dumps(list(e.refs), ensure_ascii=True, separators=(",", ":")),
    }  # fmt: skip


def evidence_from_row(r: Row[Any]) -> EvidenceRecord:
    return EvidenceRecord(
        tx_index=int(r.tx_index), evidence_id=r.evidence_id, producer_id=r.producer_id,
        status=r.status, action=r.action, refs=tuple(json.loads(r.refs)),
    )  # fmt: skip


def validator_from_row(r: Row[Any]) -> ValidatorRecord:
    return ValidatorRecord(
        r.validator_id, bytes(r.consensus_pubkey), bytes(r.node_pubkey), r.address
    )


def vdigest(v: ValidatorRecord) -> bytes:
    return b"|".join(
        [
            v.validator_id.encode(),
            v.consensus_pubkey.hex().encode(),
            v.node_pubkey.hex().encode(),
            v.address.encode(),
        ]
    )


def sdigest(s: SnapshotRecord) -> bytes:
    return b"|".join(
        [str(s.height).encode(), s.root.hex().encode(), s.location.encode(), str(s.size).encode()]
    )


def entity(r: Row[Any]) -> EntityState:
    return EntityState(r.entity_id, int(r.height), int(r.reputation), bool(r.quarantined))


def summary(r: Row[Any]) -> BlockSummary:
    return BlockSummary(
        height=int(r.height), hash=bytes(r.hash), parent_hash=bytes(r.parent_hash),
        round=int(r.round), proposer=r.proposer, chain_id=r.chain_id,
        timestamp=int(r.timestamp), state_root=bytes(r.state_root),
        state_root_hint=bytes(r.state_root_hint), tx_count=int(r.tx_count),
    )  # fmt: skip


def load(c: Connection, height: int) -> BlockRecord | None:
    b = c.execute(select(t.blocks).where(t.blocks.c.height == height)).first()
    if b is None:
        return None
    tt, ev, kv, en, va = t.transactions, t.evidence, t.state_kv, t.entities, t.validators
    txs = c.execute(select(tt).where(tt.c.height == height).order_by(tt.c.idx)).all()
    evs = c.execute(select(ev).where(ev.c.height == height).order_by(ev.c.tx_index)).all()
    kvs = c.execute(select(kv).where(kv.c.version == height)).all()
    ens = c.execute(select(en).where(en.c.height == height).order_by(en.c.entity_id)).all()
    vas = c.execute(select(va).where(va.c.since_height == height).order_by(va.c.validator_id)).all()
    changes = sorted(
        (StateChange(bytes(r.key), None if r.value is None else bytes(r.value)) for r in kvs),
        key=lambda ch: ch.key,
    )
    return BlockRecord(
        height=int(b.height), hash=bytes(b.hash), parent_hash=bytes(b.parent_hash),
        round=int(b.round), proposer=b.proposer, timestamp=int(b.timestamp),
        state_root=bytes(b.state_root), state_root_hint=bytes(b.state_root_hint),
        tx_count=int(b.tx_count), commit_qc=bytes(b.commit_qc), chain_id=b.chain_id,
        txs=tuple(tx_from_row(r) for r in txs),
        evidence=tuple(evidence_from_row(r) for r in evs),
        changes=tuple(changes),
        entities=tuple(EntityRecord(r.entity_id, int(r.reputation), bool(r.quarantined)) for r in ens),
        validators=tuple(validator_from_row(r) for r in vas),
    )  # fmt: skip
