"""Benchmark: blocks/s and rows/s projected into PostgreSQL (or any projection URL).

    python bench/projection.py --url postgresql+psycopg://postgres@127.0.0.1:39432/postgres

For a PostgreSQL/CockroachDB URL a fresh database is created on that server for each run
and dropped afterwards; for a sqlite URL a new file next to the given path. Blocks are
built before timing; each block is one `save_block` (one SERIALIZABLE transaction) by one
writer. Rows per block = 1 block + txs + evidence + state changes + entities + 1 progress.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source checkout

from cybermesh.storage import migrate
from cybermesh.storage.records import (
    BlockRecord,
    EntityRecord,
    EvidenceRecord,
    StateChange,
    TxRecord,
)
from cybermesh.storage.sql import SqlStore


def _h(*parts: object) -> bytes:
    return hashlib.sha256(repr(parts).encode()).digest()


def make_block(height: int, parent: bytes, n_txs: int, changes_per_tx: int) -> BlockRecord:
    txs = tuple(
        TxRecord(
            index=i,
            tx_hash=_h("tx", height, i),
            kind=1 if i % 10 != 9 else 2,
            topic="ai.anomalies.v1" if i % 10 != 9 else "ai.evidence.v1",
            producer_id=f"det-{i % 8}",
            nonce=height * 1_000_000 + i,
            tx_id=f"a-{height}-{i}",
            ts=1_767_225_600_000 + height * 1000 + i,
            raw=os.urandom(280),
            status=0,
        )
        for i in range(n_txs)
    )
    evidence = tuple(
        EvidenceRecord(
            i, f"e-{height}-{i}", "analyst-1", "accepted", "quarantine", (f"a-{height}-0",)
        )
        for i in range(9, n_txs, 10)
    )
    keys = sorted({_h("k", height, j) for j in range(n_txs * changes_per_tx)})
    changes = tuple(StateChange(k, k[:8]) for k in keys)
    entities = tuple(
        EntityRecord(f"10.{height % 250}.{j // 250}.{j % 250}", -j, j % 17 == 0)
        for j in range(min(n_txs, 100))
    )
    entities = tuple(sorted(entities, key=lambda e: e.entity_id))
    return BlockRecord(
        height=height, hash=_h("block", height), parent_hash=parent, round=2 * height,
        proposer=f"v{height % 4}", timestamp=1_767_225_600_000 + height * 1000,
        state_root=_h("root", height), state_root_hint=_h("root", height - 1),
        tx_count=n_txs, commit_qc=os.urandom(300), chain_id="bench", txs=txs,
        evidence=evidence, changes=changes, entities=entities,
    )  # fmt: skip


def rows_of(rec: BlockRecord) -> int:
    return 1 + len(rec.txs) + len(rec.evidence) + len(rec.changes) + len(rec.entities) + 1


def _fresh(url: str) -> tuple[str, Any]:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = f"{parsed.database}.{uuid.uuid4().hex[:10]}"
        return parsed.set(database=path).render_as_string(hide_password=False), path
    admin = create_engine(
        parsed.set(drivername="postgresql+psycopg"),
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
    )
    name = "cmbench_" + uuid.uuid4().hex[:10]
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return parsed.set(database=name).render_as_string(hide_password=False), (admin, name)


def _drop(handle: Any) -> None:
    if isinstance(handle, str):
        for suffix in ("", "-wal", "-shm"):
            Path(handle + suffix).unlink(missing_ok=True)
        return
    admin, name = handle
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def run(url: str, n_txs: int, n_blocks: int, changes_per_tx: int) -> dict[str, Any]:
    blocks, parent = [], bytes(32)
    for h in range(1, n_blocks + 1):
        blocks.append(make_block(h, parent, n_txs, changes_per_tx))
        parent = blocks[-1].hash
    db_url, handle = _fresh(url)
    try:
        migrate.upgrade(db_url)
        store = SqlStore(db_url)
        started = time.perf_counter()
        for rec in blocks:
            store.save_block(rec, validator_id="bench")
        elapsed = time.perf_counter() - started
        retries = store.retries
        store.close()
    finally:
        _drop(handle)
    rows = sum(rows_of(b) for b in blocks)
    return {
        "txs_per_block": n_txs,
        "blocks": n_blocks,
        "rows_per_block": rows // n_blocks,
        "seconds": round(elapsed, 3),
        "blocks_per_s": round(n_blocks / elapsed, 1),
        "txs_per_s": round(n_blocks * n_txs / elapsed, 1),
        "rows_per_s": round(rows / elapsed, 1),
        "retries": retries,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("CYBERMESH_PG_URL", ""))
    parser.add_argument("--changes-per-tx", type=int, default=2)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply block counts")
    args = parser.parse_args()
    if not args.url:
        parser.error("--url (or env CYBERMESH_PG_URL) is required")
    plan = [(100, int(200 * args.scale)), (1000, int(30 * args.scale))]
    results = [run(args.url, txs, blocks, args.changes_per_tx) for txs, blocks in plan]
    print(
        json.dumps(
            {
                "bench": "projection",
                "backend": make_url(args.url).get_backend_name(),
                "driver": make_url(args.url).drivername,
                "changes_per_tx": args.changes_per_tx,
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                },
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
