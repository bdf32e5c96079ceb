"""bench/e2e.py --ledger-only on a synthetic ledger topic with chosen record timestamps."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from cybermesh.ledger import height_key
from tests.ledger_kit import certified_chain

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).resolve().parents[3]


async def test_ledger_only_measures_latency_from_record_timestamps(kafka_bootstrap: str, new_topic, tmp_path: Path) -> None:
    chain = certified_chain([1, 2, 3, 4], per_block=5)
    topic = await new_topic("ledger.blocks.v1", partitions=1)
    base = 1_790_000_000_000
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for i, raw in enumerate(chain.records):
            for copy in range(4):  # four publishers; the first one's timestamp is the commit time
                await producer.send(topic, value=raw, key=height_key(i + 1), timestamp_ms=base + 1_000 * (i + 1) + copy)
        await producer.flush()
    finally:
        await producer.stop()
    produced = {hashlib.sha256(tx.raw).hexdigest(): base + 500 * i
                for i, c in enumerate(chain.committed) for tx in c.block.txs}  # fmt: skip
    (tmp_path / "produced.json").write_text(json.dumps(produced))
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(ROOT / "bench" / "e2e.py"), "--ledger-only", "--bootstrap", kafka_bootstrap,
         "--topic", topic, "--produced", str(tmp_path / "produced.json"), "--settle", "3"],
        capture_output=True, text=True, timeout=120, check=False, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    n = sum(len(c.block.txs) for c in chain.committed)
    assert out["committed"] == n and out["unmatched"] == 0
    assert out["ledger_blocks"] == 4 and out["ledger_records"] == 16 and out["integrity_mismatches"] == 0
    # block i (0-based) commits at base + 1000 (i+1), its txs were produced at base + 500 i
    lat = sorted(1_000 + 500 * i for i, c in enumerate(chain.committed) for _ in c.block.txs)
    assert out["latency_ms"]["max"] == 2_500
    assert out["latency_ms"]["p50"] == lat[(n + 1) // 2 - 1]
