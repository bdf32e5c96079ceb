"""Several validators projecting the same chain into one PostgreSQL database at once."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from projection_builders import make_chain
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from cybermesh.storage import schema as t
from cybermesh.storage.sql import SqlStore

WRITERS = 4
BLOCKS = 500
TXS = 4


def _retries_by_code() -> dict[str, float]:
    out: dict[str, float] = {}
    for metric in REGISTRY.collect():
        if metric.name == "cybermesh_projection_db_retries":
            for s in metric.samples:
                if s.name.endswith("_total"):
                    out[s.labels["code"]] = s.value
    return out


def _retry_total() -> float:
    return sum(_retries_by_code().values())


@pytest.mark.postgres
def test_four_writers_project_each_block_exactly_once(
    fresh_pg_url: Callable[..., str], record_property: Callable[[str, object], None]
) -> None:
    url = fresh_pg_url()
    chain = make_chain(BLOCKS, TXS)
    stores = [SqlStore(url, backoff_cap_s=0.05) for _ in range(WRITERS)]
    outcomes: list[list[str]] = [[] for _ in range(WRITERS)]
    errors: list[BaseException] = []
    start = threading.Barrier(WRITERS)
    retries_before = _retry_total()
    by_code_before = _retries_by_code()

    def writer(i: int) -> None:
        try:
            start.wait()
            for rec in chain:
                outcomes[i].append(stores[i].save_block(rec, validator_id=f"v{i}"))
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()

    assert errors == []
    inserted = sum(o.count("inserted") for o in outcomes)
    verified = sum(o.count("verified") for o in outcomes)
    assert (inserted, verified) == (BLOCKS, BLOCKS * (WRITERS - 1))
    with stores[0].engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.blocks)).scalar_one() == BLOCKS
        assert (
            conn.execute(select(func.count()).select_from(t.transactions)).scalar_one()
            == BLOCKS * TXS
        )
        heights = (
            conn.execute(select(t.blocks.c.height).order_by(t.blocks.c.height)).scalars().all()
        )
    assert heights == list(range(1, BLOCKS + 1))
    for i in range(WRITERS):
        assert stores[0].last_height(f"v{i}") == BLOCKS
    for rec in chain[:: BLOCKS // 10]:
        assert stores[0].load_block(rec.height) == rec
    retries = sum(s.retries for s in stores)
    assert _retry_total() - retries_before == retries
    record_property("db_retries", retries)
    by_code = {
        k: int(v - by_code_before.get(k, 0.0)) for k, v in sorted(_retries_by_code().items())
    }
    print(f"\nconcurrency: {WRITERS} writers x {BLOCKS} blocks, retries = {retries} {by_code}")
    for s in stores:
        s.close()


def test_sqlite_writers_share_one_file(tmp_path: object) -> None:
    """The embedded default: BEGIN IMMEDIATE serializes writers; busy errors are retried."""
    from cybermesh.storage import migrate

    url = f"sqlite:///{tmp_path}/shared.db"
    migrate.upgrade(url)
    chain = make_chain(60, 3)
    stores = [SqlStore(url) for _ in range(3)]
    errors: list[BaseException] = []
    inserted = [0, 0, 0]

    def writer(i: int) -> None:
        try:
            for rec in chain:
                inserted[i] += stores[i].save_block(rec, validator_id=f"v{i}") == "inserted"
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert sum(inserted) == len(chain)
    assert [stores[0].last_height(f"v{i}") for i in range(3)] == [60, 60, 60]
    assert [b.height for b in stores[0].blocks_page(1, 100)] == list(range(1, 61))
    for s in stores:
        s.close()
