"""TableWriter (cybermesh/tables/writer.py) on real RocksDB (rocksdict) with an aiokafka-like
producer: per-partition logs in call order, acks after a delay, failures on demand."""

from __future__ import annotations

import asyncio
import types
from pathlib import Path
from typing import Any

import pytest
import rocksdict

from cybermesh.tables.writer import EXIT_TABLE_WRITE_FAILED, TableWriter

OFFSET_KEY = b"__faust\x00offset__"


class Batch:
    def __init__(self, room: int = 1000) -> None:
        self.records: list[tuple[bytes, bytes | None]] = []
        self.room = room

    def append(self, *, key: bytes, value: bytes | None, timestamp: None) -> object | None:
        if len(self.records) >= self.room:
            return None
        self.records.append((key, value))
        return object()


class Producer:
    """Records join the partition's log when sent (aiokafka's order); acks come later."""

    def __init__(self, ack_s: float = 0.01, room: int = 1000, slow: dict[int, float] | None = None) -> None:
        self.log: dict[int, list[tuple[bytes, bytes | None]]] = {}
        self.ack_s = ack_s
        self.slow = slow or {}
        """Ack delay of some partitions (acks of different partitions come in any order)."""
        self.room = room
        self.fail: Exception | None = None

    def create_batch(self) -> Batch:
        return Batch(self.room)

    async def send_batch(self, batch: Batch, topic: str, *, partition: int) -> asyncio.Future[Any]:
        await asyncio.sleep(0)  # aiokafka may wait (metadata, buffer space) before queueing
        log = self.log.setdefault(partition, [])
        base = len(log)
        log.extend(batch.records)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        delay = self.slow.get(partition, self.ack_s)
        if self.fail is not None:
            asyncio.get_running_loop().call_later(delay, fut.set_exception, self.fail)
        else:
            asyncio.get_running_loop().call_later(delay, fut.set_result, types.SimpleNamespace(offset=base))
        return fut


class Store:
    offset_key = OFFSET_KEY

    def __init__(self, base: Path, partitions: int = 2) -> None:
        self._dbs = {
            p: rocksdict.Rdict(str(base / f"p{p}"), options=rocksdict.Options(raw_mode=True))
            for p in range(partitions)
        }

    def _db_for_partition(self, partition: int) -> Any:
        return self._dbs[partition]

    def contents(self, partition: int) -> dict[bytes, bytes]:
        return {bytes(k): bytes(v) for k, v in self._dbs[partition].items() if k != OFFSET_KEY}

    def offset(self, partition: int) -> int | None:
        raw = self._dbs[partition].get(OFFSET_KEY)
        return None if raw is None else int(raw)


def make(tmp_path: Path, **producer: Any) -> tuple[TableWriter, Store, Producer, list[int]]:
    store, prod, exits = Store(tmp_path), Producer(**producer), []
    table = types.SimpleNamespace(
        name="mempool",
        data=store,
        app=types.SimpleNamespace(producer=types.SimpleNamespace(_ensure_producer=lambda: prod)),
        changelog_topic=types.SimpleNamespace(get_topic_name=lambda: "t-mempool-changelog"),
    )
    return TableWriter(table, on_fatal=exits.append, batched=True), store, prod, exits


def replayed(log: list[tuple[bytes, bytes | None]]) -> dict[bytes, bytes]:
    state: dict[bytes, bytes] = {}
    for key, value in log:
        if value is None:
            state.pop(key, None)
        else:
            state[key] = value
    return state


async def test_changelog_then_rocksdb_with_the_persisted_offset(tmp_path: Path) -> None:
    w, store, prod, exits = make(tmp_path, room=2)  # 5 records in partition 0: 3 batches
    for i in range(5):
        w.set(b"k%d" % i, b"v%d" % i, 0)
    w.set(b"x", b"y", 1)
    w.delete(b"k1")
    await w.flush()
    assert prod.log[0] == [*((b"k%d" % i, b"v%d" % i) for i in range(5)), (b"k1", None)]
    for p in (0, 1):
        assert store.contents(p) == replayed(prod.log[p])
        assert store.offset(p) == len(prod.log[p]) - 1
    assert exits == [] and len(w) == 0


async def test_interleaved_flushes_keep_each_keys_order(tmp_path: Path) -> None:
    # agent A admits X (partition 0) and T (partition 1); while A waits for acks, agent B's
    # batch evicts T and flushes: the tombstone must follow the put, in RocksDB and changelog
    w, store, prod, _ = make(tmp_path, ack_s=0.002, slow={0: 0.05})
    w.set(b"X", b"x", 0)
    w.set(b"T", b"t", 1)
    first = asyncio.create_task(w.flush())
    await asyncio.sleep(0.01)  # A's records are sent; partition 0's ack is slow
    w.delete(b"T")
    await w.flush()
    await first
    assert prod.log[1] == [(b"T", b"t"), (b"T", None)]
    for p in (0, 1):
        assert store.contents(p) == replayed(prod.log[p])
    assert b"T" not in store.contents(1)


async def test_a_failed_flush_is_fatal_and_writes_nothing_locally(tmp_path: Path) -> None:
    w, store, prod, exits = make(tmp_path)
    prod.fail = RuntimeError("broker gone")
    w.set(b"a", b"1", 0)
    with pytest.raises(RuntimeError, match="broker gone"):
        await w.flush()
    assert exits == [EXIT_TABLE_WRITE_FAILED]
    assert store.contents(0) == {} and store.offset(0) is None


async def test_a_cancelled_flush_finishes_and_the_next_waits_for_it(tmp_path: Path) -> None:
    w, store, prod, exits = make(tmp_path, ack_s=0.05)
    w.set(b"a", b"1", 0)
    first = asyncio.create_task(w.flush())
    await asyncio.sleep(0.01)  # records sent, acks pending
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    w.set(b"a", b"2", 0)
    await w.flush()
    assert prod.log[0] == [(b"a", b"1"), (b"a", b"2")]
    assert store.contents(0) == {b"a": b"2"} and store.offset(0) == 1
    assert exits == []


async def test_index_keeps_one_partition_per_key(tmp_path: Path) -> None:
    w, store, prod, _ = make(tmp_path)
    store._dbs[0].put(b"dup", b"v")
    store._dbs[1].put(b"dup", b"v")
    store._dbs[1].put(b"one", b"w")
    store._dbs[1].put(OFFSET_KEY, b"41")
    w.index()
    assert w.where == {b"dup": 0, b"one": 1}
    await w.flush()  # the copy in partition 1 is tombstoned
    assert prod.log[1] == [(b"dup", None)]
    assert store.contents(0) == {b"dup": b"v"} and store.contents(1) == {b"one": b"w"}
    assert store.offset(1) == 41  # never lowered (the fake log restarts at 0)
    w.delete(b"dup")
    await w.flush()
    assert prod.log[0] == [(b"dup", None)] and store.contents(0) == {}
