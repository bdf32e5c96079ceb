"""Raw-bytes Kafka helpers for tests: create topics, produce, consume (aiokafka, real broker).

Used by the fixtures in tests/conftest.py and directly by tests. Rules:

1. Everything is raw bytes: no codec, no Faust. Tests decode with `cybermesh.wire`.
2. `consume_raw` reads without a consumer group, from the beginning of every partition, and
   returns at most `n` records, sorted by (partition, offset); it returns fewer when the
   timeout passes first, so a test can also assert that nothing was published.
3. `create_topic` waits until every partition has a leader, so the topic is usable at once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

Headers = Sequence[tuple[str, bytes]]

#: Kafka's error code for "topic already exists" (not an error for `create_topic(exist_ok=True)`).
TOPIC_ALREADY_EXISTS = 36


class TopicCreateError(RuntimeError):
    """The broker refused to create `topic` with Kafka error `code`."""

    def __init__(self, topic: str, code: int, message: str | None) -> None:
        super().__init__(f"creating topic {topic!r} failed: Kafka error {code}: {message}")
        self.topic = topic
        self.code = code


@dataclass(frozen=True)
class Record:
    """One consumed record."""

    topic: str
    partition: int
    offset: int
    #: None when the record was produced without a key
    key: bytes | None
    #: None for a tombstone
    value: bytes | None
    #: in the order they were produced; a name may repeat
    headers: tuple[tuple[str, bytes], ...]
    #: ms since the epoch (producer create time)
    timestamp: int

    def header(self, name: str) -> bytes | None:
        """The first header called `name`, or None."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


def unique_topic_name(base: str) -> str:
    """`base` plus a random suffix: legal Kafka topic characters, at most 249 of them."""
    return f"{base}.{uuid.uuid4().hex[:16]}"[-249:]


async def create_topic(
    admin: AIOKafkaAdminClient,
    name: str,
    partitions: int = 1,
    *,
    configs: dict[str, str] | None = None,
    exist_ok: bool = False,
    wait_s: float = 30.0,
) -> str:
    """Create topic `name` (replication 1) and wait until all its partitions have a leader."""
    response = await admin.create_topics(
        [NewTopic(name, partitions, 1, topic_configs=configs or {})], timeout_ms=int(wait_s * 1000)
    )
    for entry in response.topic_errors:
        topic, code = entry[0], entry[1]
        message = entry[2] if len(entry) > 2 else None
        if code and not (exist_ok and code == TOPIC_ALREADY_EXISTS):
            raise TopicCreateError(topic, code, message)
    await wait_for_leaders(admin, name, partitions, wait_s)
    return name


async def wait_for_leaders(
    admin: AIOKafkaAdminClient, name: str, partitions: int, wait_s: float
) -> None:
    """Poll the topic's metadata until `partitions` partitions each have a leader."""
    async with asyncio.timeout(wait_s):
        while True:
            [desc] = await admin.describe_topics([name])
            parts = desc.get("partitions", [])
            ready = len(parts) >= partitions and all(p.get("leader", -1) >= 0 for p in parts)
            if desc.get("error_code", 0) == 0 and ready:
                return
            await asyncio.sleep(0.1)


async def produce_raw(
    bootstrap: str,
    topic: str,
    values: Iterable[bytes | None],
    headers: Headers | None = None,
    *,
    key: bytes | None = None,
    partition: int | None = None,
) -> list[tuple[int, int]]:
    """Publish `values` in order (acks=all, idempotent), each with the same `headers` and `key`.

    Returns the (partition, offset) of each record.
    """
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=0
    )
    await producer.start()
    try:
        futures = [
            await producer.send(
                topic,
                value=value,
                key=key,
                partition=partition,
                headers=list(headers) if headers else None,
            )
            for value in values
        ]
        metas = [await f for f in futures]
    finally:
        await producer.stop()
    return [(m.partition, m.offset) for m in metas]


async def consume_raw(
    bootstrap: str,
    topic: str,
    n: int,
    timeout: float = 30.0,  # noqa: ASYNC109 (the agreed signature: a deadline, not a cancel scope)
) -> list[Record]:
    """Up to `n` records of `topic` from the beginning (no group), waiting at most `timeout` s."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,  # no group: every partition is assigned, read from the beginning
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        metadata_max_age_ms=500,  # notice a topic created after we started waiting
    )
    await consumer.start()
    got: list[Record] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(got) < n:
            left = deadline - loop.time()
            if left <= 0:
                break
            batches = await consumer.getmany(timeout_ms=int(min(left, 0.5) * 1000) or 1)
            for records in batches.values():
                got.extend(
                    Record(
                        topic=r.topic,
                        partition=r.partition,
                        offset=r.offset,
                        key=r.key,
                        value=r.value,
                        headers=tuple((k, bytes(v)) for k, v in r.headers),
                        timestamp=r.timestamp,
                    )
                    for r in records
                )
    finally:
        await consumer.stop()
    got.sort(key=lambda r: (r.partition, r.offset))
    return got[:n]
