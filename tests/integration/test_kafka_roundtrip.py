"""Raw bytes and headers through the real local broker (tests/harness.py + conftest fixtures)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from tests.harness import consume_raw, produce_raw

pytestmark = pytest.mark.kafka

NewTopic = Callable[..., Awaitable[str]]


async def test_values_keys_and_headers_round_trip(
    kafka_bootstrap: str, new_topic: NewTopic
) -> None:
    topic = await new_topic("infra-roundtrip", partitions=1)
    values = [b"", b"\x00\xff binary", "ünïcode".encode(), bytes(range(256)) * 40]
    headers = [("reject-reason", b"bad_signature"), ("validator-id", b"v0"), ("blob", b"\x00\x01")]
    placed = await produce_raw(kafka_bootstrap, topic, values, headers, key=b"det-1")
    assert [p for p, _ in placed] == [0, 0, 0, 0]
    assert [o for _, o in placed] == [0, 1, 2, 3]

    got = await consume_raw(kafka_bootstrap, topic, n=len(values), timeout=30)

    assert [r.value for r in got] == values
    assert [r.offset for r in got] == [0, 1, 2, 3]
    assert all(r.key == b"det-1" and r.topic == topic for r in got)
    assert all(r.headers == tuple(headers) for r in got)
    assert got[0].header("reject-reason") == b"bad_signature"
    assert got[0].header("missing") is None


async def test_consume_returns_fewer_when_nothing_more_arrives(
    kafka_bootstrap: str, new_topic: NewTopic
) -> None:
    topic = await new_topic("infra-empty")
    assert await consume_raw(kafka_bootstrap, topic, n=1, timeout=1.5) == []
    await produce_raw(kafka_bootstrap, topic, [b"only"])
    got = await consume_raw(kafka_bootstrap, topic, n=5, timeout=2)
    assert [r.value for r in got] == [b"only"]


async def test_new_topic_is_unique_and_has_the_partitions_asked_for(
    kafka_bootstrap: str, new_topic: NewTopic
) -> None:
    a = await new_topic("ai.anomalies.v1", partitions=3)
    b = await new_topic("ai.anomalies.v1", partitions=3)
    assert a != b and a.startswith("ai.anomalies.v1.")
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([a])
    finally:
        await admin.close()
    assert sorted(p["partition"] for p in described[0]["partitions"]) == [0, 1, 2]
    # records spread over partitions come back sorted by (partition, offset)
    for p in (2, 0, 1):
        await produce_raw(kafka_bootstrap, a, [f"p{p}".encode()], partition=p)
    got = await consume_raw(kafka_bootstrap, a, n=3, timeout=30)
    assert [(r.partition, r.value) for r in got] == [(0, b"p0"), (1, b"p1"), (2, b"p2")]
