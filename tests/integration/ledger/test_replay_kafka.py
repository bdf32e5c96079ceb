"""`cybermesh replay` against the real broker: a certified chain published as every validator
would (each record four times, interleaved) replays to the roots of direct execution."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text

from cybermesh.genesis_io import write_genesis
from cybermesh.ledger import height_key
from cybermesh.proto.v1 import block_pb2
from cybermesh.storage.engine import make_engine
from cybermesh.wire.strict import encode
from tests.ledger_kit import GENESIS, certified_chain

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).resolve().parents[3]


async def publish(bootstrap: str, topic: str, records: list[tuple[int, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for h, raw in records:
            await producer.send(topic, key=height_key(h), value=raw)
        await producer.flush()
    finally:
        await producer.stop()


def interleave(records: list[bytes], copies: int = 4) -> list[tuple[int, bytes]]:
    """Each validator publishes every height; validator c lags c heights behind."""
    out = []
    for step in range(len(records) + copies):
        for c in range(copies):
            i = step - c
            if 0 <= i < len(records):
                out.append((i + 1, records[i]))
    return out


async def replay(bootstrap: str, topic: str, tmp: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    genesis = tmp / "genesis.json"
    if not genesis.exists():
        write_genesis(genesis, GENESIS)
    cmd = [sys.executable, "-m", "cybermesh", "replay", "--genesis", str(genesis), "--bootstrap", bootstrap,
           "--topic", topic, "--json", *extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return await asyncio.to_thread(
        subprocess.run, cmd, capture_output=True, text=True, timeout=300, env=env, cwd=tmp, check=False
    )


async def test_replay_rebuilds_the_roots_of_direct_execution(kafka_bootstrap: str, new_topic, tmp_path: Path) -> None:
    chain = certified_chain([1, 2, 3, 5, 6, 7, 8, 10, 11], per_block=5)
    # The first copy of height 1 comes from a validator that committed it later, under QC(h3)
    # (which commits h2 and its ancestors): another proof of the same block (reader rule 2).
    late = block_pb2.CommittedBlock()
    late.CopyFrom(chain.committed[0])
    late.commit_qc.CopyFrom(chain.committed[1].commit_qc)
    assert late.commit_qc != chain.committed[0].commit_qc
    topic = await new_topic("ledger.blocks.v1", partitions=1)
    await publish(kafka_bootstrap, topic, [(1, encode(late)), *interleave(chain.records)])
    db = f"sqlite:///{tmp_path / 'projection.db'}"
    done = await replay(kafka_bootstrap, topic, tmp_path, "--data-dir", str(tmp_path / "d1"), "--db", db)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["height"] == 9
    assert result["root"] == chain.roots[-1].hex()
    assert (result["duplicates"], result["proof_variants"]) == (3 * 9 + 1, 4)
    engine = make_engine(db)
    with engine.connect() as conn:
        heights = [r[0] for r in conn.execute(text("select height from blocks order by height"))]
        roots = [bytes(r[0]) for r in conn.execute(text("select state_root from blocks order by height"))]
    engine.dispose()
    assert heights == list(range(1, 10))
    assert roots == chain.roots
    # a second replay into another data dir, projecting into the same database, verifies it
    again = await replay(kafka_bootstrap, topic, tmp_path, "--data-dir", str(tmp_path / "d2"), "--db", db)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["root"] == chain.roots[-1].hex()


async def test_replay_from_a_snapshot(kafka_bootstrap: str, new_topic, tmp_path: Path) -> None:
    chain = certified_chain([1, 2, 3, 4, 5, 6])
    topic = await new_topic("ledger.blocks.v1", partitions=1)
    await publish(kafka_bootstrap, topic, [(h, r) for h, r in enumerate(chain.records, start=1)])
    first = await replay(kafka_bootstrap, topic, tmp_path, "--data-dir", str(tmp_path / "d1"))
    assert first.returncode == 0, first.stderr
    snap = tmp_path / "s.snap"
    exported = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "cybermesh", "state", "export", "--data-dir", str(tmp_path / "d1"), "--version", "3", "--out", str(snap)],
        capture_output=True, text=True, check=False, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert exported.returncode == 0, exported.stderr
    done = await replay(kafka_bootstrap, topic, tmp_path, "--data-dir", str(tmp_path / "d2"), "--snapshot", str(snap))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["from_height"], result["height"], result["root"]) == (3, 6, chain.roots[-1].hex())


async def test_tampered_duplicate_stops_replay_with_an_integrity_alarm(kafka_bootstrap: str, new_topic, tmp_path: Path) -> None:
    chain = certified_chain([1, 2, 3, 4])
    tampered = block_pb2.CommittedBlock()
    tampered.CopyFrom(chain.committed[2])
    tampered.block.txs[0].raw = tampered.block.txs[0].raw + b"\x00"
    records = [(h, r) for h, r in enumerate(chain.records, start=1)]
    records.insert(3, (3, encode(tampered)))  # a second publisher's height 3 differs
    topic = await new_topic("ledger.blocks.v1", partitions=1)
    await publish(kafka_bootstrap, topic, records)
    done = await replay(kafka_bootstrap, topic, tmp_path, "--data-dir", str(tmp_path / "d"))
    assert done.returncode == 2
    assert "verification failed at height 3" in done.stderr
    assert "duplicate records carry different blocks" in done.stderr


async def test_tampered_block_with_valid_looking_record_is_refused(kafka_bootstrap: str, new_topic, tmp_path: Path) -> None:
    chain = certified_chain([1, 2, 3])
    tampered = block_pb2.CommittedBlock()
    tampered.CopyFrom(chain.committed[1])
    tampered.block.header.timestamp += 1  # the qc no longer certifies this header
    topic = await new_topic("ledger.blocks.v1", partitions=1)
    await publish(kafka_bootstrap, topic, [(1, chain.records[0]), (2, encode(tampered)), (3, chain.records[2])])
    done = await replay(kafka_bootstrap, topic, tmp_path, "--data-dir", str(tmp_path / "d"))
    assert done.returncode == 2
    assert "height 2" in done.stderr and "qc certifies" in done.stderr
