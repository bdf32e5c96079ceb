"""The durable NodeStore on rocksdict (RocksDB).

One `write` = one RocksDB WriteBatch: a block's nodes, root, stale list, latest values and
metadata land atomically (NodeStore contract).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from rocksdict import BlockBasedOptions, Cache, Options, Rdict, WriteBatch, WriteOptions


class RocksNodeStore:
    """NodeStore on a RocksDB directory (raw bytes keys and values)."""

    def __init__(
        self, path: str | Path, *, cache_bytes: int = 64 << 20, write_buffer_bytes: int = 128 << 20, sync: bool = False
    ) -> None:
        """`sync=True` fsyncs the WAL on every write; without it a crash may lose the last
        blocks (never half of one), which replay from ledger.blocks.v1 restores.
        `write_buffer_bytes`: memtable size; each version writes a few MB of pages, and a
        larger memtable with a 1 GiB first level cuts flush and compaction work (which runs on
        RocksDB's background threads; docs/perf/state.md)."""
        opts = Options(raw_mode=True)
        opts.create_if_missing(True)
        opts.set_write_buffer_size(write_buffer_bytes)
        opts.set_max_bytes_for_level_base(1 << 30)
        table = BlockBasedOptions()
        table.set_block_cache(Cache(cache_bytes))
        table.set_bloom_filter(10, False)
        opts.set_block_based_table_factory(table)
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._db = Rdict(str(self.path), options=opts)
        self._wopts = WriteOptions()
        self._wopts.sync = sync

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self._db.get(key)
        return value

    def write(self, puts: Mapping[bytes, bytes], deletes: Iterable[bytes]) -> None:
        batch = WriteBatch(raw_mode=True)
        for key in deletes:
            batch.delete(key)
        for key, value in puts.items():
            batch.put(key, value)
        self._db.write(batch, self._wopts)

    def close(self) -> None:
        self._db.close()
