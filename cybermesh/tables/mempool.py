"""The mempool and the replay cache as RocksDB-backed Faust tables, with in-memory indexes.

Rules:
1. The tables are the durable record; the in-memory indexes (a `Mempool` for select() and two
   `MemoryWindow`s for admission) are rebuilt from them when table recovery completes, and are
   mirrored into them on every change.
2. Mempool table: key = tx hash (32 bytes), value = MempoolEntry record (cybermesh.mempool).
3. Replay table: key = replay_key(producer_id, nonce), value = 8-byte big-endian expiry (ms)
   followed by the tx hash (32 bytes). One record feeds both the replay cache and the dedupe
   set (the tx hash expires with its nonce).
4. Tables may be written only from inside stream processing (Faust's rule: the changelog
   partition is the current event's). Deletions requested elsewhere (committed txs) are
   applied to the index at once and queued for the table, then flushed by the next batch.
5. Both tables have the partition count of the ai.* topics (settings.kafka.partitions).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import faust

from cybermesh.admission.window import MemoryWindow
from cybermesh.mempool import Caps, Entry, Mempool, decode_entry, encode_entry

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


class MempoolStore:
    """The mempool table and its priority index (rules 1, 2, 4)."""

    def __init__(self, app: faust.App, caps: Caps, partitions: int) -> None:
        self.table = _table(app, "mempool", partitions, "tx hash -> MempoolEntry record")
        self.pool = Mempool(caps)
        self.ready = False
        self._pending_deletes: set[bytes] = set()
        self.table.on_recover(self.rebuild)

    async def rebuild(self) -> None:
        """Rebuild the index from the table (table recovery callback, rule 1)."""
        entries = [decode_entry(bytes(k), bytes(v)) for k, v in self.table.items() if v]
        self.pool = Mempool(self.pool.caps, entries)
        self.ready = True

    def put(self, entry: Entry) -> tuple[bool, str, tuple[bytes, ...]]:
        """Add to the index and the table; (added, refused, evicted). In stream context only."""
        result = self.pool.add(entry)
        if result.added:
            self.table[entry.tx_hash] = encode_entry(entry)
            for tx_hash in result.evicted:
                self.table.pop(tx_hash, None)
        return result.added, result.refused, result.evicted

    def expire(self, now_ms: int) -> tuple[bytes, ...]:
        """Apply the age cap to index and table. In stream context only."""
        gone = self.pool.expire(now_ms)
        for tx_hash in gone:
            self.table.pop(tx_hash, None)
        return gone

    def remove_committed(self, tx_hashes: Iterable[bytes]) -> tuple[bytes, ...]:
        """Drop committed txs from the index now and from the table at the next flush (rule 4).

        NOTE: call after the block holding them is committed.
        """
        gone = self.pool.remove(tx_hashes)
        self._pending_deletes.update(gone)
        return gone

    def flush(self) -> None:
        """Apply queued table deletions. In stream context only."""
        pending, self._pending_deletes = self._pending_deletes, set()
        for tx_hash in sorted(pending):
            if tx_hash not in self.pool:
                self.table.pop(tx_hash, None)


class ReplayStore:
    """The replay table and the replay/dedupe windows it feeds (rules 1, 3)."""

    def __init__(self, app: faust.App, partitions: int) -> None:
        self.table = _table(app, "replay", partitions, "(producer, nonce) -> expiry, tx hash")
        self.replay = MemoryWindow()
        self.seen = MemoryWindow()
        self.ready = False
        self.table.on_recover(self.rebuild)

    async def rebuild(self) -> None:
        """Rebuild both windows from the table (table recovery callback, rule 1)."""
        replay, seen = MemoryWindow(), MemoryWindow()
        for key, value in self.table.items():
            if value and len(value) == 40:
                expires_ms = int.from_bytes(value[:8], "big")
                replay.remember(bytes(key), expires_ms)
                seen.remember(bytes(value[8:]), expires_ms)
        self.replay, self.seen = replay, seen
        self.ready = True

    def put(self, key: bytes, expires_ms: int, tx_hash: bytes) -> None:
        """Persist one admitted message's replay/dedupe entry. In stream context only.

        NOTE: admission has already remembered it in the windows.
        """
        self.table[key] = expires_ms.to_bytes(8, "big") + tx_hash

    def expire(self, now_ms: int) -> int:
        """Forget expired entries in the windows and the table. In stream context only."""
        self.seen.expire(now_ms)
        gone = self.replay.expire(now_ms)
        for key in gone:
            self.table.pop(key, None)
        return len(gone)
