"""Three partitions per ai.* topic and per table (kafka.partitions = 3): every valid record is
admitted whatever its partition, and a SIGKILLed worker restarts with the same mempool."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from cybermesh.wire import topics
from tests.admission_kit import make_genesis, valid
from tests.ingest_worker import Worker, produce

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]


async def test_three_partitions_and_restart(ingest_bootstrap: str, tmp_path: Path) -> None:
    worker = Worker(ingest_bootstrap, make_genesis(), tmp_path, kafka__partitions=3)
    await worker.create_topics(partitions=3)
    worker.start()
    with worker.kept_on_failure():
        await worker.wait_ready()
        now = int(time.time() * 1000)
        records = [(t, valid(t, nonce=n, ts=now)) for t in topics.AI_TOPICS for n in range(1, 41)]
        await produce(ingest_bootstrap, [(worker.topic(t), raw) for t, raw in records])
        state = await worker.wait_count(len(records))
        want = sorted(hashlib.sha256(raw).hexdigest() for _, raw in records)
        assert sorted(tx["tx_hash"] for tx in state["txs"]) == want

        await worker.wait_committed()
        worker.kill()
        worker.start()
        state = await worker.wait_ready()
        assert sorted(tx["tx_hash"] for tx in state["txs"]) == want
