"""The mempool and the replay cache as RocksDB-backed Faust tables, with in-memory indexes.

Rules:
1. The tables are the durable record; the in-memory indexes (a `Mempool` for select() and two
   `MemoryWindow`s for admission) are rebuilt from them when table recovery completes, and are
   mirrored into them on every change.
2. Mempool table: key = tx hash (32 bytes), value = MempoolEntry record (cybermesh.mempool),
   which also carries the tx's replay key and replay expiry.
3. Replay table: key = replay_key(producer_id, nonce), value = 8-byte big-endian expiry (ms)
   followed by the tx hash (32 bytes). It holds only the replay entries of txs that are *not*
   in the mempool table (evicted, committed, refused): so an admitted tx costs one table write.
   Replay cache and dedupe set = replay table entries + mempool records, until expiry.
4. Tables are written through a `TableWriter` (cybermesh.tables.writer): changes are queued
   with their partition (a new key: the partition of the record that wrote it; a known key:
   the partition that holds it) and applied, changelog included, by `write_tables()` once per
   batch. Deletions requested outside stream processing (committed txs) are applied to the
   index at once and queued for the table, then flushed by the next batch.
5. Both tables have the partition count of the ai.* topics (settings.kafka.partitions).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import faust

from cybermesh.admission.window import MemoryWindow
from cybermesh.mempool import Caps, Entry, Mempool, decode_entry, encode_entry
from cybermesh.tables.writer import TableWriter

MIB: Final = 1024 * 1024
#: RocksDB options per table partition: small caches (Faust's default block cache is 2 GiB).
ROCKSDB_OPTIONS: Final[dict[str, int]] = {
    "block_cache_size": 8 * MIB,
    "block_cache_compressed_size": 0,
    "write_buffer_size": 8 * MIB,
    "max_write_buffer_number": 2,
    "max_open_files": 256,
}


def _table(app: faust.App, name: str, partitions: int, help_: str) -> Any:
    return app.Table(
        name,
        default=None,
        key_type=bytes,  # bytes -> the "raw" serializer for store and changelog
        value_type=bytes,
        partitions=partitions,
        options=dict(ROCKSDB_OPTIONS),
        help=help_,
    )


class ReplayStore:
    """The replay table and the replay/dedupe windows (rules 1, 3)."""

    def __init__(self, app: faust.App, partitions: int) -> None:
        self.table = _table(app, "replay", partitions, "(producer, nonce) -> expiry, tx hash")
        self.writer = TableWriter(self.table)
        self.replay = MemoryWindow()
        self.seen = MemoryWindow()
        self._persisted: set[bytes] = set()

    def rebuild(self, entries: Iterable[Entry]) -> None:
        """Rebuild both windows from the replay table and the mempool's entries (rule 3)."""
        replay, seen, persisted = MemoryWindow(), MemoryWindow(), set()
        for key, value in self.table.items():
            if value and len(value) == 40:
                expires_ms = int.from_bytes(value[:8], "big")
                replay.remember(bytes(key), expires_ms)
                seen.remember(bytes(value[8:]), expires_ms)
                persisted.add(bytes(key))
        for e in entries:
            if e.replay_key:
                replay.remember(e.replay_key, e.replay_expires_ms)
                seen.remember(e.tx_hash, e.replay_expires_ms)
        self.replay, self.seen, self._persisted = replay, seen, persisted
        self.writer.index()

    def persist(
        self, key: bytes, expires_ms: int, tx_hash: bytes, now_ms: int, partition: int
    ) -> None:
        """Keep a replay entry whose tx leaves (or never enters) the mempool table.

        NOTE: in stream context only; admission has already put it in the windows.
        """
        if key and expires_ms > now_ms:
            self.writer.set(key, expires_ms.to_bytes(8, "big") + tx_hash, partition)
            self._persisted.add(key)

    def expire(self, now_ms: int) -> int:
        """Forget expired entries in the windows and the table. In stream context only."""
        self.seen.expire(now_ms)
        gone = self.replay.expire(now_ms)
        for key in gone:
            if key in self._persisted:
                self._persisted.discard(key)
                self.writer.delete(key)
        return len(gone)


class MempoolStore:
    """The mempool table and its priority index (rules 1, 2, 4)."""

    def __init__(self, app: faust.App, caps: Caps, partitions: int, replay: ReplayStore) -> None:
        self.table = _table(app, "mempool", partitions, "tx hash -> MempoolEntry record")
        self.writer = TableWriter(self.table)
        self.replay = replay
        self.pool = Mempool(caps)
        self.ready = False
        self._pending: dict[bytes, Entry] = {}
        self.table.on_recover(self.rebuild)

    async def rebuild(self) -> None:
        """Rebuild the index and the replay windows from the tables (recovery callback).

        NOTE: Faust calls it after the changelogs of all tables are restored.
        """
        entries = [decode_entry(bytes(k), bytes(v)) for k, v in self.table.items() if v]
        self.pool = Mempool(self.pool.caps, entries)
        self.replay.rebuild(entries)
        self.writer.index()
        self.ready = True

    def put(self, entry: Entry, now_ms: int, partition: int = 0) -> tuple[bool, str, int]:
        """Add to index and table (`partition`: the source record's); (added, refused, evicted
        count). In stream context only."""
        result = self.pool.add(entry)
        if result.added:
            self.writer.set(entry.tx_hash, encode_entry(entry), partition)
        else:
            self._leave(entry, now_ms, in_table=False, partition=partition)
        for victim in result.evicted:
            self._leave(victim, now_ms, in_table=True)
        return result.added, result.refused, len(result.evicted)

    async def write_tables(self) -> None:
        """Apply the queued changes of both tables (changelog included). In stream context."""
        await self.replay.writer.flush()
        await self.writer.flush()

    def expire(self, now_ms: int) -> int:
        """Apply the age cap to index and table. In stream context only."""
        gone = self.pool.expire(now_ms)
        for entry in gone:
            self._leave(entry, now_ms, in_table=True)
        return len(gone)

    def remove_committed(self, tx_hashes: Iterable[bytes]) -> tuple[bytes, ...]:
        """Drop committed txs from the index now and from the table at the next flush (rule 4).

        NOTE: call after the block holding them is committed.
        """
        gone = self.pool.remove(tx_hashes)
        self._pending.update((e.tx_hash, e) for e in gone)
        return tuple(e.tx_hash for e in gone)

    def flush(self, now_ms: int) -> None:
        """Apply queued table deletions. In stream context only."""
        pending, self._pending = self._pending, {}
        for tx_hash in sorted(pending):
            if tx_hash not in self.pool:
                self._leave(pending[tx_hash], now_ms, in_table=True)

    def _leave(self, entry: Entry, now_ms: int, *, in_table: bool, partition: int = 0) -> None:
        """The entry leaves the mempool (or never enters it): its replay entry is kept, in the
        partition of its mempool record if it had one."""
        if in_table:
            partition = self.writer.where.get(entry.tx_hash, partition)
        self.replay.persist(
            entry.replay_key, entry.replay_expires_ms, entry.tx_hash, now_ms, partition
        )
        if in_table:
            self.writer.delete(entry.tx_hash)
