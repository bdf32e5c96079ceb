"""`ProjectionReader` (cybermesh/api/reader.py) on SQLite and PostgreSQL: one suite, two backends.

A 3-block chain is projected with `SqlStore`; its state changes are real state records
(`rep/<id>`, `quarantine/<id>`), so the entity pages read them the way the API does."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from cybermesh.api import reader as reader_mod
from cybermesh.api.reader import ProjectionReader
from cybermesh.proto.v1 import ai_pb2, block_pb2
from cybermesh.state.records import Quarantine, Reputation, quarantine_key, reputation_key
from cybermesh.storage import migrate
from cybermesh.storage.records import BlockRecord, Receipt, StateChange, from_committed_block
from cybermesh.storage.sql import SqlStore
from tests.integration.projection.projection_builders import GENESIS_PARENT, committed_block


def rep(e: str, score: int, n: int, h: int) -> StateChange:
    return StateChange(reputation_key(e), Reputation(score, n, h).encode())


def quar(e: str, h: int | None) -> StateChange:
    return StateChange(quarantine_key(e), None if h is None else Quarantine(h, "threshold").encode())


def policy_tx(i: int) -> block_pb2.Tx:
    msg = ai_pb2.Policy(schema_version=1, id=f"po-{i}", action=2, rule="10.0.0.9", ts=1, producer_id="gov", nonce=i)
    return block_pb2.Tx(schema_version=1, kind=block_pb2.TX_KIND_POLICY, raw=msg.SerializeToString(deterministic=True))


def chain() -> list[BlockRecord]:
    changes = {
        1: [rep("a", -10, 1, 1), rep("b", -20, 2, 1), rep("c", 5, 0, 1), quar("b", 1)],
        2: [rep("a", -30, 2, 2), quar("d", 2), rep("e", 0, 0, 2), rep("\u00e9t\u00e9", -1, 1, 2)],
        3: [quar("b", None), rep("c", 7, 0, 3)],
    }
    out, parent = [], GENESIS_PARENT
    for h in (1, 2, 3):
        cb = committed_block(h, parent, 10)  # tx 9 is evidence
        if h == 2:
            cb.block.txs.append(policy_tx(h))
            cb.block.header.tx_count = len(cb.block.txs)
        receipts = [Receipt(9, 0, "accepted", f"penalize {h}")]
        rec = from_committed_block(cb, state_root=bytes(32), receipts=receipts, changes=changes[h])
        out.append(rec)
        parent = rec.hash
    return out


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('reader') / 'p.db'}"
    migrate.upgrade(url)
    return url


@pytest.fixture(scope="module")
def postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    base = make_url(str(request.getfixturevalue("pg_url"))).set(drivername="postgresql+psycopg")
    admin = create_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    name = "cmapi_" + uuid.uuid4().hex[:12]
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    migrate.upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def reader(request: pytest.FixtureRequest) -> Iterator[tuple[ProjectionReader, list[BlockRecord]]]:
    url = request.getfixturevalue(f"{request.param}_url")
    store = SqlStore(url)
    records = chain()
    if store.last_height("api-test") == 0:
        for rec in records:
            store.save_block(rec, validator_id="api-test")
    store.close()
    r = ProjectionReader(url)
    yield r, records
    r.close()


def ids(rows: list[reader_mod.EntityRow]) -> list[str]:
    return [e.entity_id for e in rows]


def test_entities_latest_values_filters_and_cursor(reader: tuple[ProjectionReader, list[BlockRecord]]) -> None:
    r, _ = reader
    rows, nxt = r.entities_page(None, 100, quarantined=None, min_reputation=None)
    assert ids(rows) == ["a", "b", "c", "e", "\u00e9t\u00e9"] and nxt is None  # by UTF-8 bytes
    by = {e.entity_id: e for e in rows}
    assert (by["a"].reputation, by["a"].anomalies, by["a"].height) == (-30, 2, 2)
    assert by["b"].quarantined is False and by["b"].height == 3  # released at 3
    assert by["c"].reputation == 7
    q, _ = r.entities_page(None, 100, quarantined=True, min_reputation=None)
    assert ids(q) == ["d"] and q[0].reputation == 0 and q[0].quarantined  # quarantined without a record
    assert ids(r.entities_page(None, 100, quarantined=False, min_reputation=-20)[0]) == ["b", "c", "e", "\u00e9t\u00e9"]
    page, cursor = r.entities_page(None, 2, quarantined=None, min_reputation=None)
    assert ids(page) == ["a", "b"] and cursor == b"b"
    page, cursor = r.entities_page(cursor, 2, quarantined=None, min_reputation=None)
    assert ids(page) == ["c", "e"] and cursor == b"e"
    page, cursor = r.entities_page(cursor, 2, quarantined=None, min_reputation=None)
    assert ids(page) == ["\u00e9t\u00e9"] and cursor is None


def test_entity_scan_budget_gives_a_short_page_with_a_cursor(
    reader: tuple[ProjectionReader, list[BlockRecord]], monkeypatch: pytest.MonkeyPatch
) -> None:
    r, _ = reader
    monkeypatch.setattr(reader_mod, "SCAN_BATCH", 1)
    monkeypatch.setattr(reader_mod, "SCAN_BUDGET", 2)
    page, cursor = r.entities_page(None, 5, quarantined=None, min_reputation=0)
    assert ids(page) == [] and cursor == b"b"  # a, b scanned; none kept; go on after b
    page, cursor = r.entities_page(cursor, 5, quarantined=None, min_reputation=0)
    assert ids(page) == ["c", "e"] and cursor == b"e"


def test_blocks_txs_evidence_policies(reader: tuple[ProjectionReader, list[BlockRecord]]) -> None:
    r, records = reader
    assert r.projected_height() == 3
    assert r.height_of_block(records[1].hash) == 2 and r.height_of_block(bytes(32)) is None
    assert r.tx_positions("a-2-3", None, 10) == [(2, 3)]
    assert r.tx_positions("a-2-3", "nobody", 10) == []
    ev = r.evidence_page(None, 2)
    assert [(e["height"], e["tx_index"]) for e in ev] == [(3, 9), (2, 9)]
    assert ev[0]["evidence_id"] == "e-3-9" and ev[0]["refs"] == ["a-3-0", "a-2-0"] and ev[0]["action"] == "penalize 3"
    assert [(e["height"], e["tx_index"]) for e in r.evidence_page((2, 9), 5)] == [(1, 9)]
    assert r.evidence_by_id("e-2-9")[0]["status"] == "accepted"
    pol = r.policy_txs(10)
    assert pol == [{"policy_id": "po-2", "producer_id": "gov", "action": 2, "rule": "10.0.0.9", "status": "applied",
                    "height": 2, "index": 10}]  # fmt: skip


def test_reader_takes_no_write_lock_on_sqlite(sqlite_url: str, tmp_path: Path) -> None:
    """Rule 1: a long read does not block the projector's BEGIN IMMEDIATE."""
    r = ProjectionReader(sqlite_url)
    writer = create_engine(sqlite_url, connect_args={"timeout": 1})
    try:
        with r.engine.connect() as rc:
            rc.execute(text("SELECT count(*) FROM blocks")).scalar()
            with writer.connect() as wc:
                wc.exec_driver_sql("BEGIN IMMEDIATE")
                wc.exec_driver_sql("ROLLBACK")
    finally:
        r.close()
        writer.dispose()
