"""Batched writes to a RocksDB-backed Faust table (the mempool and replay tables' hot path).

Faust writes one table key as: a RocksDB put; a changelog record through its producer buffer
(a FutureMessage, a per-record aiokafka send with its own future and callbacks); and, when that
record is acked, a second RocksDB put, of the partition's persisted offset. Profiled on the
ingest agent this was the largest cost after Faust's own consumption (docs/perf/admission.md).
`TableWriter` keeps Faust's storage format and recovery contract and batches the work:

1. A change is (key, value) or (key, None) = tombstone, for one table partition. A key's
   tombstone goes to the partition its value was written to (Faust's `del table[key]` sends it
   to the *current event's* partition, so with several partitions recovery could resurrect the
   key in the partition that holds it).
2. `flush()` applies the queued changes in order: one RocksDB WriteBatch per partition; then
   the changelog records, with the bytes Faust would send (raw key and value, tombstone =
   null value), in aiokafka record batches per partition, in order; it returns when the broker
   acked them (acks=all) and sets each partition's persisted offset to its last record's
   offset, as Faust's `_on_changelog_sent` does per record. Recovery is Faust's, unchanged: it
   reads each changelog partition from the persisted offset on.
3. Faust commits the source topics' offsets only after `producer.flush()` (which also waits for
   these batches); flush() awaits the acks itself, so a batch's records are acked (their source
   offsets committable) only once its table changes are in the changelog.
4. Any other store (Faust's `memory://`, used by unit tests under `agent.test_context()`) is
   written through the table's own per-key path at once, with the caller's current event.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import rocksdict
from faust.stores.rocksdb import Store as RocksStore
from faust.types import TP


class TableWriter:
    """Queued, batched writes to one Faust table (see the module docstring)."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self.where: dict[bytes, int] = {}
        """Partition of each key written (and not deleted) through this writer (rule 1)."""
        self._queue: list[tuple[int, bytes, bytes | None]] = []
        self._batched: bool | None = None

    @property
    def batched(self) -> bool:
        if self._batched is None:
            self._batched = isinstance(self.table.data, RocksStore)
        return self._batched

    def index(self) -> None:
        """Learn each stored key's partition (call after recovery, before any write)."""
        if not self.batched:
            return
        store = self.table.data
        skip = store.offset_key  # Faust's own key: the persisted changelog offset
        self.where = {
            bytes(k): p
            for p, db in store._dbs.items()
            for k in db.keys()  # noqa: SIM118 - a RocksDB handle, not a dict
            if k != skip
        }

    def set(self, key: bytes, value: bytes, partition: int) -> None:
        """Write key = value in `partition` (where a previous value of the key lives, if any)."""
        partition = self.where.setdefault(key, partition)
        if self.batched:
            self._queue.append((partition, key, value))
        else:
            self.table[key] = value

    def delete(self, key: bytes) -> None:
        """Delete key from the partition that holds it (no-op if this writer never wrote it)."""
        partition = self.where.pop(key, None)
        if partition is None:
            if not self.batched:
                self.table.pop(key, None)
            return
        if self.batched:
            self._queue.append((partition, key, None))
        else:
            self.table.pop(key, None)

    def __len__(self) -> int:
        return len(self._queue)

    async def flush(self) -> None:
        """Apply the queued changes: RocksDB, then the changelog, then persisted offsets."""
        queue, self._queue = self._queue, []
        if not queue:
            return
        store: RocksStore = self.table.data
        by_partition: dict[int, list[tuple[bytes, bytes | None]]] = defaultdict(list)
        for partition, key, value in queue:
            by_partition[partition].append((key, value))
        for partition, changes in by_partition.items():
            batch = rocksdict.WriteBatch(raw_mode=True)
            for key, value in changes:
                if value is None:
                    batch.delete(key)
                else:
                    batch.put(key, value)
            store._db_for_partition(partition).write(batch)
        producer = self.table.app.producer._ensure_producer()
        topic = self.table.changelog_topic.get_topic_name()
        for partition, changes in sorted(by_partition.items()):
            last = -1
            for sent in [await f for f in await _send(producer, topic, partition, changes)]:
                last = max(last, sent.offset + sent.count - 1)
            if last >= 0:
                store.set_persisted_offset(TP(topic, partition), last)


class _Sent:
    __slots__ = ("count", "offset")

    def __init__(self, offset: int, count: int) -> None:
        self.offset, self.count = offset, count


async def _send(
    producer: Any, topic: str, partition: int, changes: list[tuple[bytes, bytes | None]]
) -> list[Any]:
    """Changelog records of one partition in aiokafka batches, in order; awaitables of _Sent."""
    sends: list[Any] = []
    i = 0
    while i < len(changes):
        batch = producer.create_batch()
        start = i
        while i < len(changes):
            key, value = changes[i]
            if batch.append(key=key, value=value, timestamp=None) is None:
                break
            i += 1
        if i > start:
            sends.append(_counted(await producer.send_batch(batch, topic, partition=partition), i - start))
        else:  # a record larger than a batch on its own: a single send, as Faust would
            key, value = changes[i]
            sends.append(_counted(await producer.send(topic, value, key=key, partition=partition), 1))
            i += 1
    return sends


async def _counted(future: Any, count: int) -> _Sent:
    metadata = await future
    return _Sent(metadata.offset, count)
