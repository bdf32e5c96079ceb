"""Batched writes to a RocksDB-backed Faust table (the mempool and replay tables' hot path).

Faust writes one table key as: a RocksDB put; a changelog record through its producer buffer
(a FutureMessage, a per-record aiokafka send with its own future and callbacks); and, when that
record is acked, a second RocksDB put, of the partition's persisted offset. Profiled on the
ingest agent this was the largest cost after Faust's own consumption (docs/perf/admission.md).
`TableWriter` keeps Faust's storage format and recovery contract and batches the work:

1. A change is (key, value) or (key, None) = tombstone, for one table partition. A key's
   tombstone goes to the partition its value was written to (Faust's `del table[key]` sends it
   to the *current event's* partition, so with several partitions recovery could resurrect the
   key in the partition that holds it). `index()` learns where stored keys are; a key found in
   several partitions (written by that old path) is deleted from all but one.
2. `flush()` applies the queued changes, **changelog first**: every partition's records (the
   bytes Faust would send: raw key and value, tombstone = null value) are handed to the
   producer in aiokafka record batches, all partitions before any ack is awaited; when the
   broker acked them all (acks=all), one RocksDB WriteBatch per partition writes the changes
   *and* the partition's persisted offset (its last record's offset, never lowered) together.
   So the local store is always the changelog up to its persisted offset, and Faust's recovery
   (which reads each changelog partition from that offset on) completes it after any stop.
3. Flushes of one table never interleave (one lock per writer; the three ingest agents share
   the writers): each key's records reach the changelog and RocksDB in the same order. A flush whose
   caller is cancelled (the agent stopping) runs to its end, and the next flush waits for it.
4. A flush that fails (the broker did not ack within aiokafka's own retries, RocksDB refused
   the write) is fatal: the worker exits at once (status 70) *without* Faust's graceful stop,
   which would commit the source offsets of records whose table changes are not durable. The
   records after the last committed offset are admitted again at restart.
5. Only a rocksdict store outside transactions, with a producer that waits for acks, is
   batched; any other store (Faust's `memory://`, used by unit tests under
   `agent.test_context()`) is written through the table's own per-key path at once, with the
   caller's current event.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import rocksdict
from faust.stores.rocksdb import Store as RocksStore

log = logging.getLogger(__name__)
EXIT_TABLE_WRITE_FAILED = 70
"""Exit status of a worker whose table flush failed (EX_SOFTWARE)."""


def exit_now(status: int) -> None:
    """Rule 4: leave without Faust's graceful stop (no offset commit)."""
    logging.shutdown()
    os._exit(status)


class TableWriter:
    """Queued, batched writes to one Faust table (see the module docstring)."""

    def __init__(
        self,
        table: Any,
        on_fatal: Callable[[int], None] = exit_now,
        batched: bool | None = None,
    ) -> None:
        """`batched`: None = decide by rule 5 at the first write (tests force True)."""
        self.table = table
        self.where: dict[bytes, int] = {}
        """Partition of each key written (and not deleted) through this writer (rule 1)."""
        self._queue: list[tuple[int, bytes, bytes | None]] = []
        self._batched = batched
        self._lock = asyncio.Lock()
        self._inflight: asyncio.Future[None] | None = None
        self._on_fatal = on_fatal

    @property
    def batched(self) -> bool:
        """Rule 5."""
        if self._batched is None:
            store = self.table.data
            app = self.table.app
            self._batched = (
                isinstance(store, RocksStore)
                and bool(getattr(store, "use_rocksdict", False))
                and not app.in_transaction
                and str(app.conf.producer_acks) not in ("0", "1")
            )
        return self._batched

    def index(self) -> None:
        """Learn each stored key's partition (after recovery, before any write). A key stored
        in several partitions keeps the lowest; the others are queued for deletion (rule 1)."""
        if not self.batched:
            return
        store = self.table.data
        skip = store.offset_key  # Faust's own key: the persisted changelog offset
        self.where = {}
        for partition, db in sorted(store._dbs.items()):
            for raw in db.keys():  # noqa: SIM118 - a RocksDB handle, not a dict
                if raw == skip:
                    continue
                key = bytes(raw)
                if key in self.where:
                    self._queue.append((partition, key, None))
                else:
                    self.where[key] = partition

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
        if not self.batched:
            self.table.pop(key, None)
        elif partition is not None:
            self._queue.append((partition, key, None))

    def __len__(self) -> int:
        return len(self._queue)

    async def flush(self) -> None:
        """Apply the queued changes (rules 2-4)."""
        async with self._lock:
            if self._inflight is not None and not self._inflight.done():
                await asyncio.shield(self._inflight)  # a flush whose caller was cancelled
            queue, self._queue = self._queue, []
            if not queue:
                return
            self._inflight = asyncio.ensure_future(self._apply(queue))
            await asyncio.shield(self._inflight)

    async def _apply(self, queue: list[tuple[int, bytes, bytes | None]]) -> None:
        try:
            by_partition: dict[int, list[tuple[bytes, bytes | None]]] = defaultdict(list)
            for partition, key, value in queue:
                by_partition[partition].append((key, value))
            producer = self.table.app.producer._ensure_producer()
            topic = self.table.changelog_topic.get_topic_name()
            sends = {
                partition: await _send(producer, topic, partition, changes)
                for partition, changes in sorted(by_partition.items())
            }
            store: RocksStore = self.table.data
            for partition, futures in sends.items():
                last = -1
                for sent in [await f for f in futures]:
                    last = max(last, sent.offset + sent.count - 1)
                batch = rocksdict.WriteBatch(raw_mode=True)
                for key, value in by_partition[partition]:
                    if value is None:
                        batch.delete(key)
                    else:
                        batch.put(key, value)
                db = store._db_for_partition(partition)
                before = db.get(store.offset_key)
                if before is not None:
                    last = max(last, int(before))
                batch.put(store.offset_key, str(last).encode())
                db.write(batch)
        except Exception as exc:
            log.critical(
                "table %s: flushing %d changes failed (%s: %s); exiting without committing "
                "source offsets", self.table.name, len(queue), type(exc).__name__, exc,
                exc_info=True,
            )
            self._on_fatal(EXIT_TABLE_WRITE_FAILED)
            raise


class _Sent:
    __slots__ = ("count", "offset")

    def __init__(self, offset: int, count: int) -> None:
        self.offset, self.count = offset, count


async def _send(
    producer: Any, topic: str, partition: int, changes: list[tuple[bytes, bytes | None]]
) -> list[Any]:
    """Hand one partition's changelog records to the producer in aiokafka batches, in order;
    the awaitables of their acks (_Sent). aiokafka always takes the first record of an empty
    batch, so every record fits (records are capped far below the producer's request size)."""
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
        if i == start:
            raise ValueError(f"a changelog record of {len(changes[i][0]) + len(changes[i][1] or b'')} bytes does not fit an empty batch")
        sends.append(_counted(await producer.send_batch(batch, topic, partition=partition), i - start))
    return sends


async def _counted(future: Any, count: int) -> _Sent:
    metadata = await future
    return _Sent(metadata.offset, count)
