"""The projection survives PostgreSQL going away mid-run and catches up when it returns."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from projection_builders import make_chain
from projection_pg import PgControl
from sqlalchemy import select

from cybermesh.storage import schema as t
from cybermesh.storage.projector import Projector
from cybermesh.storage.records import BlockRecord
from cybermesh.storage.sql import SqlStore

BLOCKS = 150


def _dump(store: SqlStore) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order."""
    out = {}
    with store.engine.connect() as conn:
        for tbl in t.metadata.sorted_tables:
            pk = list(tbl.primary_key.columns)
            out[tbl.name] = [tuple(r) for r in conn.execute(select(tbl).order_by(*pk))]
    return out


async def _eventually(pred: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not pred():  # noqa: ASYNC110 - polls plain attributes of the projector
            await asyncio.sleep(0.02)
    assert pred(), what


@pytest.mark.postgres
async def test_projection_catches_up_after_postgres_restart(
    fresh_pg_url: Callable[..., str], pg_control: PgControl
) -> None:
    chain = make_chain(BLOCKS, 5)
    reference = SqlStore(fresh_pg_url())
    for rec in chain:
        reference.save_block(rec, validator_id="v0")
    expected = _dump(reference)
    reference.close()

    store = SqlStore(fresh_pg_url())
    committed = 0

    def fetch_block(height: int) -> BlockRecord | None:
        return chain[height - 1] if height <= committed else None

    projector = Projector(
        store, "v0", fetch_block, idle_s=0.05, backoff_base_s=0.05, backoff_cap_s=0.5
    )
    await projector.start()
    stopped = False
    try:
        for h in range(1, BLOCKS + 1):  # the "consensus": commits never wait for the projection
            committed = h
            projector.notify(h)
            await asyncio.sleep(0.005)
            if h == 40:
                await projector.wait_for(30)
                await asyncio.to_thread(pg_control.stop)
                stopped = True
        assert committed == BLOCKS
        await _eventually(lambda: projector.failures >= 2, "projector saw the outage")
        assert projector.height < BLOCKS, "nothing can be projected while PostgreSQL is down"
        await asyncio.to_thread(pg_control.start)
        stopped = False
        async with asyncio.timeout(120):
            await projector.wait_for(BLOCKS)
        assert projector.failures == 0
    finally:
        if stopped:
            await asyncio.to_thread(pg_control.start)
        await projector.stop()
    assert store.last_height("v0") == BLOCKS
    assert _dump(store) == expected
    store.close()
