"""Projection records: the module rules, the constructor from a CommittedBlock, the digest."""

from __future__ import annotations

import dataclasses
import hashlib
import random
import sqlite3

import pytest
from sqlalchemy.exc import OperationalError

from cybermesh.proto.v1 import ai_pb2, block_pb2
from cybermesh.storage.records import (
    BlockRecord,
    EntityRecord,
    Receipt,
    RecordError,
    StateChange,
    TxRecord,
    from_committed_block,
    header_hash,
    record_digest,
)
from cybermesh.storage.retry import backoff_s, is_unavailable, retry_code
from cybermesh.storage.schema import U64


def _committed(n_anomalies: int = 2) -> block_pb2.CommittedBlock:
    txs = [
        block_pb2.Tx(
            schema_version=1,
            kind=block_pb2.TX_KIND_ANOMALY,
            raw=ai_pb2.Anomaly(
                id=f"a{i}", producer_id="det", nonce=2**64 - 1 - i, ts=7 + i
            ).SerializeToString(),
        )
        for i in range(n_anomalies)
    ]
    ev = ai_pb2.Evidence(id="e1", producer_id="an", refs=["a0", "a1"], nonce=3, ts=9)
    txs.append(
        block_pb2.Tx(schema_version=1, kind=block_pb2.TX_KIND_EVIDENCE, raw=ev.SerializeToString())
    )
    header = block_pb2.BlockHeader(
        schema_version=1, chain_id="c", height=5, round=9, parent_hash=b"\x01" * 32, proposer="v1",
        state_root_hint=b"\x02" * 32, timestamp=1000, tx_count=len(txs),
    )  # fmt: skip
    qc = block_pb2.QuorumCert(schema_version=1, vote_data=block_pb2.VoteData(round=10))
    return block_pb2.CommittedBlock(
        schema_version=1,
        block=block_pb2.Block(schema_version=1, header=header, txs=txs),
        commit_qc=qc,
    )


def test_from_committed_block_maps_every_field() -> None:
    cb = _committed()
    rec = from_committed_block(
        cb,
        state_root=b"\x03" * 32,
        receipts=[
            Receipt(1, code=4),
            Receipt(2, evidence_status="accepted", evidence_action="penalize"),
        ],
        changes=[StateChange(b"z", None), StateChange(b"a", b"1")],
        entities=[EntityRecord("y", -5, True), EntityRecord("x", 0, False)],
    )
    assert (
        rec.hash
        == header_hash(cb.block.header)
        == hashlib.sha256(cb.block.header.SerializeToString(deterministic=True)).digest()
    )
    assert (rec.height, rec.round, rec.proposer, rec.timestamp, rec.chain_id) == (
        5,
        9,
        "v1",
        1000,
        "c",
    )
    assert (rec.parent_hash, rec.state_root_hint) == (b"\x01" * 32, b"\x02" * 32)
    assert rec.commit_qc == cb.commit_qc.SerializeToString(deterministic=True)
    assert [t.status for t in rec.txs] == [0, 4, 0]
    assert [(t.tx_id, t.producer_id, t.nonce, t.ts) for t in rec.txs[:2]] == [
        ("a0", "det", 2**64 - 1, 7),
        ("a1", "det", 2**64 - 2, 8),
    ]
    assert rec.txs[2].topic == "ai.evidence.v1"
    assert rec.txs[0].tx_hash == hashlib.sha256(cb.block.txs[0].raw).digest()
    [ev] = rec.evidence
    assert (ev.tx_index, ev.evidence_id, ev.status, ev.action, ev.refs) == (
        2,
        "e1",
        "accepted",
        "penalize",
        ("a0", "a1"),
    )
    assert [c.key for c in rec.changes] == [b"a", b"z"]
    assert [e.entity_id for e in rec.entities] == ["x", "y"]
    override = from_committed_block(cb, state_root=b"", block_hash=b"\x09" * 32)
    assert override.hash == b"\x09" * 32 and override.evidence[0].status == ""


def test_unknown_tx_kind_is_refused() -> None:
    cb = _committed()
    cb.block.txs.add(schema_version=1, kind=block_pb2.TX_KIND_UNSPECIFIED, raw=b"")
    with pytest.raises(RecordError, match=r"txs\[3\].kind"):
        from_committed_block(cb, state_root=b"")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"height": 0}, "height"),
        ({"hash": b"short"}, "hash"),
        ({"state_root": b"\x00" * 31}, "state_root"),
        ({"tx_count": 4}, "tx_count"),
        ({"round": 2**63}, "round"),
        ({"changes": (StateChange(b"b", None), StateChange(b"a", None))}, "changes"),
        ({"entities": (EntityRecord("x", 1, False), EntityRecord("x", 2, False))}, "entities"),
    ],
)
def test_record_rules(change: dict[str, object], field: str) -> None:
    base = from_committed_block(_committed(), state_root=b"")
    with pytest.raises(RecordError, match=field):
        dataclasses.replace(base, **change)  # type: ignore[arg-type]


def test_tx_rules() -> None:
    tx = from_committed_block(_committed(), state_root=b"").txs[0]
    for change in ({"nonce": 2**64}, {"nonce": -1}, {"tx_hash": b""}, {"index": -1}):
        with pytest.raises(RecordError):
            dataclasses.replace(tx, **change)  # type: ignore[arg-type]
    with pytest.raises(RecordError, match=r"txs\[0\].index"):
        dataclasses.replace(
            from_committed_block(_committed(), state_root=b""),
            txs=(dataclasses.replace(tx, index=1),),
            tx_count=1,
        )


def test_digest_covers_executor_outputs_but_not_snapshots_or_the_commit_proof() -> None:
    base = from_committed_block(
        _committed(), state_root=b"\x03" * 32, receipts=[Receipt(0, code=1)]
    )
    d = record_digest(base)
    assert record_digest(dataclasses.replace(base)) == d
    assert record_digest(dataclasses.replace(base, state_root=b"\x04" * 32)) != d
    assert record_digest(dataclasses.replace(base, commit_qc=b"another proof")) == d
    txs = (dataclasses.replace(base.txs[0], status=0), *base.txs[1:])
    assert record_digest(dataclasses.replace(base, txs=txs)) != d
    assert record_digest(dataclasses.replace(base, changes=(StateChange(b"k", None),))) != d
    assert record_digest(
        dataclasses.replace(base, changes=(StateChange(b"k", b""),))
    ) != record_digest(dataclasses.replace(base, changes=(StateChange(b"k", None),)))
    assert record_digest(dataclasses.replace(base, entities=(EntityRecord("e", 0, True),))) != d
    assert isinstance(base, BlockRecord) and isinstance(base.txs[0], TxRecord)


def test_u64_column_round_trips_the_full_range() -> None:
    col = U64()
    for v in (0, 1, 2**63 - 1, 2**63, 2**64 - 1):
        stored = col.process_bind_param(v, None)  # type: ignore[arg-type]
        assert stored is not None and -(2**63) <= stored < 2**63
        assert col.process_result_value(stored, None) == v  # type: ignore[arg-type]


class _PgError(Exception):
    def __init__(self, sqlstate: str | None) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _err(orig: Exception, invalidated: bool = False) -> OperationalError:
    return OperationalError("stmt", {}, orig, connection_invalidated=invalidated)


def test_retry_classification() -> None:
    assert retry_code(_err(_PgError("40001"))) == "40001"
    assert retry_code(_err(_PgError("23505"))) == "23505"
    assert retry_code(_err(_PgError("40003"))) == "40003"
    assert retry_code(_err(_PgError("42P01"))) is None
    assert retry_code(_err(sqlite3.OperationalError("database is locked"))) == "sqlite_busy"
    assert retry_code(_err(sqlite3.OperationalError("no such table: x"))) is None
    assert is_unavailable(_err(_PgError("57P01")))
    assert is_unavailable(_err(_PgError("08006")))
    assert is_unavailable(_err(_PgError("42P01"), invalidated=True))
    assert not is_unavailable(_err(_PgError("40001")))
    assert not is_unavailable(_err(sqlite3.OperationalError("no such table: x")))


def test_backoff_is_bounded_and_jittered() -> None:
    rng = random.Random(7)
    waits = [backoff_s(k, base_s=0.01, cap_s=0.2, rng=rng) for k in range(1, 40)]
    assert all(0.0 <= w <= 0.2 for w in waits)
    assert len(set(waits)) == len(waits)
    assert max(waits[10:]) > 0.02  # grows beyond the base
