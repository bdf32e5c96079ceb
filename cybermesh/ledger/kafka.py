"""Read ledger.blocks.v1 from Kafka with aiokafka (adapter).

`read_ledger(bootstrap, topic)` yields batches of (key, value) from the beginning of every
partition up to the end offsets seen when it started (a finite replay; no consumer group, no
offsets committed). The contract is one partition (total order); more partitions are read
too, and the reader's reordering buffer copes, but the end offsets are per partition.

`read_ledger(..., from_height=H)` starts each partition near the first record of height H
instead of its beginning (a validator catching up needs only the blocks above its own): a
binary search over offsets on the records' keys (8-byte big-endian heights), then `slack`
records earlier. Every validator publishes every block, so heights in the log are only nearly
sorted (a lagging publisher writes old heights late): the search may start too late when the
disorder exceeds the slack. It is a hint: the caller must check it got what it needed and read
from the beginning otherwise (cybermesh.node.catchup does).
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
    from_height: int = 0,
    slack: int = 10_000,
) -> AsyncIterator[tuple[int, list[tuple[bytes | None, bytes]]]]:
    """Yield (records left before the end, batch) until every partition reaches its end offset.

    `options`: aiokafka security options (cybermesh.kafka.client.client_options).
    `from_height` > 0: start near the first record of that height (see the module docstring)."""
    consumer = _reader(bootstrap, options, fetch_max_bytes=64 << 20,
                       max_partition_fetch_bytes=16 << 20, auto_offset_reset="earliest")
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
        end = await consumer.end_offsets(tps)
        begin = await consumer.beginning_offsets(tps)
        searched = [tp for tp in tps if end[tp] - begin[tp] > slack]
        if from_height > 0 and searched:
            # probes fetch one small batch each, not the main consumer's 16 MiB. NOTE: only
            # partitions longer than `slack` are searched (a shorter one is read whole), which
            # also means the probe always fetches before it stops: aiokafka 0.14 can raise
            # CancelledError from stop() right after assign() otherwise
            probe = _reader(bootstrap, options, fetch_max_bytes=64 << 10,
                            max_partition_fetch_bytes=64 << 10, fetch_max_wait_ms=100)
            await probe.start()
            try:
                probe.assign(searched)
                for tp in searched:
                    found = await first_offset_at(probe, tp, begin[tp], end[tp], from_height)
                    begin[tp] = max(begin[tp], found - slack)
            finally:
                await probe.stop()
        for tp in tps:
            consumer.seek(tp, begin[tp])
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


def _reader(bootstrap: str | list[str], options: Mapping[str, Any] | None, **fetch: Any) -> AIOKafkaConsumer:
    """A consumer without group or commits, with the security `options` and fetch settings."""
    return AIOKafkaConsumer(
        **{**(options or {}), "bootstrap_servers": bootstrap},
        group_id=None,
        enable_auto_commit=False,
        **fetch,
    )


async def first_offset_at(
    consumer: AIOKafkaConsumer, tp: TopicPartition, begin: int, end: int, height: int
) -> int:
    """Binary search in [begin, end) for the first offset whose record's height is >= `height`,
    assuming heights never decrease along the partition (the caller allows for disorder).
    A record whose key is not a height ends the search at `begin` (read everything)."""
    low, high = begin, end
    while low < high:
        mid = (low + high) // 2
        consumer.seek(tp, mid)
        got = await consumer.getmany(tp, timeout_ms=5_000, max_records=1)
        msgs = got.get(tp, [])
        if not msgs:
            return begin  # nothing readable there (should not happen below `end`): be safe
        key = msgs[0].key
        if key is None or len(key) != 8:
            return begin
        if int.from_bytes(key, "big") < height:
            low = msgs[0].offset + 1
        else:
            high = mid
    return low
