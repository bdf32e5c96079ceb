"""The Projector catch-up loop against SQLite and a flaky store (no services needed)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from projection_builders import make_chain, make_record

from cybermesh.storage import migrate
from cybermesh.storage.feed import BlockEvicted, BlockFeed
from cybermesh.storage.port import StoreUnavailable
from cybermesh.storage.projector import Projector, ProjectorHalted
from cybermesh.storage.records import BlockRecord
from cybermesh.storage.sql import SqlStore


@pytest.fixture
def store(tmp_path: object) -> Iterator[SqlStore]:
    url = f"sqlite:///{tmp_path}/p.db"
    migrate.upgrade(url)
    s = SqlStore(url)
    yield s
    s.close()


class FlakyStore:
    """Delegates to a real store; the first `down` calls raise StoreUnavailable."""

    def __init__(self, inner: SqlStore, down: int) -> None:
        self.inner = inner
        self.down = down
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _gate(self) -> None:
        self.calls += 1
        if self.calls <= self.down:
            raise StoreUnavailable("sqlite://flaky", "simulated outage")

    def last_height(self, validator_id: str) -> int:
        self._gate()
        return self.inner.last_height(validator_id)

    def save_block(self, record: BlockRecord, *, validator_id: str) -> str:
        self._gate()
        return self.inner.save_block(record, validator_id=validator_id)


async def test_projects_committed_blocks_and_waits_for_more(store: SqlStore) -> None:
    chain = make_chain(20, 3)
    committed = 10

    async def fetch(height: int) -> BlockRecord | None:  # async sources work too
        return chain[height - 1] if height <= committed else None

    p = Projector(store, "v0", fetch, idle_s=5.0)
    await p.start()
    async with asyncio.timeout(30):
        await p.wait_for(10)
        assert store.last_height("v0") == 10
        committed = 20
        p.notify(20)  # wakes the idle projector long before idle_s
        await p.wait_for(20)
    await p.stop()
    assert [store.load_block(h) for h in (1, 20)] == [
        dataclasses.replace(chain[0], snapshots=()),
        dataclasses.replace(chain[19], snapshots=()),
    ]


async def test_resumes_from_stored_height(store: SqlStore) -> None:
    chain = make_chain(8, 2)
    for rec in chain[:5]:
        store.save_block(rec, validator_id="v0")
    asked: list[int] = []

    def fetch(height: int) -> BlockRecord | None:
        asked.append(height)
        return chain[height - 1] if height <= len(chain) else None

    p = Projector(store, "v0", fetch, idle_s=0.01)
    await p.start()
    async with asyncio.timeout(30):
        await p.wait_for(8)
    await p.stop()
    assert asked[0] == 6


async def test_outage_is_retried_until_the_store_returns(store: SqlStore) -> None:
    chain = make_chain(6, 2)
    flaky = FlakyStore(store, down=5)
    p = Projector(
        flaky,
        "v0",
        lambda h: chain[h - 1] if h <= 6 else None,
        idle_s=0.01,
        backoff_base_s=0.001,
        backoff_cap_s=0.01,
    )  # type: ignore[arg-type]
    await p.start()
    async with asyncio.timeout(30):
        await p.wait_for(6)
    await p.stop()
    assert flaky.calls > 5 and p.failures == 0
    assert store.last_height("v0") == 6


async def test_integrity_alarm_halts(store: SqlStore) -> None:
    chain = make_chain(3, 2)
    for rec in chain:
        store.save_block(rec, validator_id="v1")
    fork = make_record(2, chain[0].hash, 9)
    mine = [chain[0], fork, chain[2]]
    p = Projector(store, "v0", lambda h: mine[h - 1] if h <= 3 else None, idle_s=0.01)
    await p.start()
    async with asyncio.timeout(30):
        with pytest.raises(ProjectorHalted) as err:
            await p.wait_for(3)
    assert p.height == 1
    assert err.value.cause is p.error
    with pytest.raises(ProjectorHalted):
        await p.stop()
    assert store.last_height("v0") == 1
    assert store.block_by_height(2).hash == chain[1].hash  # type: ignore[union-attr]


@pytest.mark.parametrize("with_fallback", [False, True])
async def test_feed_outage_longer_than_buffer(store: SqlStore, with_fallback: bool) -> None:
    """Commits go into a 5-block feed while the store is down for 12 blocks."""
    chain = make_chain(12, 2)
    flaky = FlakyStore(store, down=10**9)
    fallback = (lambda h: chain[h - 1] if h <= len(chain) else None) if with_fallback else None
    p = Projector(
        flaky,
        "v0",
        lambda h: feed.fetch_block(h),
        idle_s=0.01,
        backoff_base_s=0.001,
        backoff_cap_s=0.01,
    )  # type: ignore[arg-type]
    feed = BlockFeed(5, fallback=fallback, on_put=p.notify)
    await p.start()
    for rec in chain:
        feed.put(rec)  # never blocks, the store being down or not
    assert feed.evicted == 7
    flaky.down = 0  # the database returns
    async with asyncio.timeout(30):
        if with_fallback:
            await p.wait_for(12)
            assert store.last_height("v0") == 12
        else:
            with pytest.raises(ProjectorHalted) as err:
                await p.wait_for(12)
            assert isinstance(err.value.cause, BlockEvicted)
            assert (err.value.cause.height, err.value.cause.oldest) == (1, 8)
    if with_fallback:
        await p.stop()
    else:
        with pytest.raises(ProjectorHalted):
            await p.stop()


def test_feed_rules() -> None:
    chain = make_chain(4, 1)
    feed = BlockFeed(2)
    assert feed.fetch_block(1) is None  # nothing committed yet
    for rec in chain[:3]:
        feed.put(rec)
    assert feed.evicted == 1
    with pytest.raises(BlockEvicted) as err:
        feed.fetch_block(1)
    assert (err.value.height, err.value.oldest) == (1, 2)
    assert feed.fetch_block(2) is chain[1]
    assert feed.fetch_block(3) is chain[2]
    assert feed.fetch_block(4) is None
    with pytest.raises(ValueError, match="capacity"):
        BlockFeed(0)
