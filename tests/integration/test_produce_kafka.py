"""`cybermesh produce` -> a real Kafka topic -> a consumer decodes strictly and verifies.

Uses the shared fixtures of tests/conftest.py (`kafka_bootstrap`, `new_topic`). The command
runs in a worker thread (it owns its own event loop, as from a shell).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from cybermesh.cli import main
from cybermesh.keys import load_signing_key
from cybermesh.wire.record import open_record
from cybermesh.wire.topics import AI_TOPICS, ANOMALIES, EVIDENCE

pytestmark = pytest.mark.kafka


async def consume(
    bootstrap: str, topics: list[str], want: int, timeout_s: float = 60.0
) -> list[Any]:
    """Every record of `topics` from the beginning, until `want` arrived (or the timeout)."""
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    got: list[Any] = []
    try:
        async with asyncio.timeout(timeout_s):
            while len(got) < want:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    got.extend(records)
    except TimeoutError:
        pass
    finally:
        await consumer.stop()
    return got


async def test_generated_load_arrives_signed_and_in_order(
    kafka_bootstrap: str, new_topic: Any, tmp_path: Path
) -> None:
    kafka_topics = {t: await new_topic(t.replace(".", "-"), partitions=2) for t in AI_TOPICS}
    logical = {v: k for k, v in kafka_topics.items()}
    key = tmp_path / "det.key"
    assert main(["keygen", "--out", str(key)]) == 0
    argv = [
        "produce",
        "--key",
        str(key),
        "--producer-id",
        "det-1",
        "--bootstrap",
        kafka_bootstrap,
        "--count",
        "300",
        "--rate",
        "3000",
        "--seed",
        "11",
        "--quiet",
        *[f"--topic-map={t}={k}" for t, k in kafka_topics.items()],
    ]
    assert await asyncio.to_thread(main, argv) == 0
    records = await consume(kafka_bootstrap, list(kafka_topics.values()), 300)
    assert len(records) == 300
    pubkey = bytes(load_signing_key(key).verify_key)
    anomaly_ids: set[str] = set()
    last_nonce: dict[tuple[str, int], int] = {}
    for r in records:
        assert r.key == b"det-1"
        msg: Any = open_record(logical[r.topic], r.value)
        assert msg.pubkey == pubkey and msg.producer_id == "det-1"
        where = (r.topic, r.partition)
        assert msg.nonce > last_nonce.get(where, -1), "a producer's events keep their order"
        last_nonce[where] = msg.nonce
        if logical[r.topic] == ANOMALIES:
            anomaly_ids.add(msg.id)
    evidence = [open_record(EVIDENCE, r.value) for r in records if logical[r.topic] == EVIDENCE]
    assert evidence and all(set(e.refs) <= anomaly_ids for e in evidence)  # type: ignore[attr-defined]
    assert len({r.partition for r in records}) == 1, "key = producer_id pins one partition"


async def test_single_event_round_trip(
    kafka_bootstrap: str, new_topic: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = await new_topic("ai-anomalies", partitions=1)
    key = tmp_path / "det.key"
    assert main(["keygen", "--out", str(key)]) == 0
    event = {"type": "port_scan", "source": "10.0.0.7", "severity": 7, "confidence": 9250}
    argv = [
        "produce",
        "--key",
        str(key),
        "--producer-id",
        "det-1",
        "--bootstrap",
        kafka_bootstrap,
        "--topic",
        ANOMALIES,
        "--json",
        json.dumps(event),
        "--payload-text",
        "{}",
        "--topic-map",
        f"{ANOMALIES}={topic}",
        "--quiet",
    ]
    capsys.readouterr()
    assert await asyncio.to_thread(main, argv) == 0
    [sent] = json.loads(capsys.readouterr().out)["records"]
    [record] = await consume(kafka_bootstrap, [topic], 1)
    msg: Any = open_record(ANOMALIES, record.value)
    assert (record.partition, record.offset) == (sent["partition"], sent["offset"])
    assert (msg.id, msg.nonce, msg.severity, msg.confidence) == (sent["id"], sent["nonce"], 7, 9250)
    from cybermesh.wire.signing import tx_hash

    assert tx_hash(record.value).hex() == sent["tx_hash"]
