"""Read ledger.blocks.v1 from Kafka with aiokafka (adapter).

`read_ledger(bootstrap, topic)` yields batches of (key, value) from the beginning of every
partition up to the end offsets seen when it started (a finite replay; no consumer group, no
offsets committed). The contract is one partition (total order); more partitions are read
too, and the reader's reordering buffer copes, but the end offsets are per partition.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition


class LedgerTopicMissing(RuntimeError):
    def __init__(self, topic: str, bootstrap: str | list[str]) -> None:
        where = bootstrap if isinstance(bootstrap, str) else ",".join(bootstrap)
        super().__init__(f"topic {topic!r} does not exist on {where}")
        self.topic = topic


async def read_ledger(
    bootstrap: str | list[str],
    topic: str,
    *,
    max_records: int = 2_000,
    options: Mapping[str, Any] | None = None,
) -> AsyncIterator[tuple[int, list[tuple[bytes | None, bytes]]]]:
    """Yield (records left before the end, batch) until every partition reaches its end offset.

    `options`: aiokafka security options (cybermesh.kafka.client.client_options)."""
    consumer = AIOKafkaConsumer(
        **{**(options or {}), "bootstrap_servers": bootstrap},
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_bytes=64 << 20,
        max_partition_fetch_bytes=16 << 20,
    )
    await consumer.start()
    try:
        # NOTE: `topics()` does not fill the consumer's cluster view, so partitions_for_topic
        # stays empty without a subscription; the fetched metadata is asked directly.
        metadata = await consumer._client.fetch_all_metadata()
        parts = sorted(metadata.partitions_for_topic(topic) or ())
        if not parts:
            raise LedgerTopicMissing(topic, bootstrap)
        tps = [TopicPartition(topic, p) for p in parts]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        begin = await consumer.beginning_offsets(tps)
        left = sum(end[tp] - begin[tp] for tp in tps)
        active = {tp for tp in tps if end[tp] > begin[tp]}
        while active:
            got = await consumer.getmany(*active, timeout_ms=1_000, max_records=max_records)
            for tp, msgs in sorted(got.items(), key=lambda kv: kv[0].partition):
                batch = [(m.key, m.value) for m in msgs if m.offset < end[tp] and m.value is not None]
                left -= len(batch)
                if batch:
                    yield left, batch
                if msgs and msgs[-1].offset >= end[tp] - 1:
                    active.discard(tp)
    finally:
        await consumer.stop()
