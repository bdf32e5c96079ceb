"""The tables' changelogs alone rebuild the mempool and the replay cache (cybermesh.tables.writer).

The ingest agent writes its table changes in batches (RocksDB write batches, changelog record
batches, persisted offsets set by hand) instead of Faust's per-key path. This checks the result
is what Faust recovery needs, with three partitions and a mempool small enough that most txs are
evicted or refused (tombstones in the mempool changelog, entries in the replay changelog): after
SIGKILL and the loss of every local RocksDB table, the restarted worker holds the same mempool,
and each earlier record sent again is refused as a duplicate, whether it was kept or not.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

import pytest

from cybermesh.wire import topics
from tests.admission_kit import make_genesis, valid
from tests.ingest_worker import Worker, produce

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]
KEEP = 12


async def test_changelogs_alone_restore_mempool_and_replay_cache(
    ingest_bootstrap: str, tmp_path: Path
) -> None:
    worker = Worker(
        ingest_bootstrap, make_genesis(), tmp_path, kafka__partitions=3, mempool__max_txs=KEEP
    )
    await worker.create_topics(partitions=3)
    worker.start()
    with worker.kept_on_failure():
        await worker.wait_ready()
        now = int(time.time() * 1000)
        records = [
            valid(topics.ANOMALIES, nonce=n, ts=now, severity=n % 11, confidence=100 + n)
            for n in range(1, 61)
        ]
        await produce(ingest_bootstrap, [(worker.topic(topics.ANOMALIES), r) for r in records])
        await worker.wait_committed()
        before = sorted(tx["tx_hash"] for tx in worker.mempool()["txs"])
        assert len(before) == KEEP
        assert set(before) < {hashlib.sha256(r).hexdigest() for r in records}

        worker.kill()
        removed = _remove_tables(tmp_path)
        assert removed == {f"{t}-{i}.db" for t in ("mempool", "replay") for i in range(3)}
        worker.start()
        state = await worker.wait_ready()
        assert sorted(tx["tx_hash"] for tx in state["txs"]) == before

        # the replay cache and dedupe set came back too: every record again is a duplicate
        await produce(ingest_bootstrap, [(worker.topic(topics.ANOMALIES), r) for r in records])
        await worker.wait_committed()
        text = worker.metrics()
        duplicates = _sample(text, "cybermesh_rejected_total", 'reason="duplicate"')
        assert duplicates == len(records)
        assert sorted(tx["tx_hash"] for tx in worker.mempool()["txs"]) == before


def _remove_tables(base: Path) -> set[str]:
    """Delete every local RocksDB table of the worker under `base`; their names."""
    tables = sorted(base.glob("**/tables/*.db"))
    for path in tables:
        shutil.rmtree(path)
    return {p.name for p in tables}


def _sample(text: str, name: str, label: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and label in line:
            total += float(line.rsplit(" ", 1)[1])
    return total
