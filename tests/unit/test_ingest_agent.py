"""Ingest agent under agent.test_context() (memory store, no broker): routing of decisions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cybermesh.app import create_app
from cybermesh.config import load_settings
from cybermesh.wire import topics
from tests.admission_kit import make_genesis, valid


class FakeDlq:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, dict[str, bytes]]] = []

    async def send(self, *, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        self.sent.append((value, dict(headers)))


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Any]:
    settings = load_settings(data_dir=tmp_path, validator_id="v7", ingest={"audit_file": ""})
    app = create_app(settings, make_genesis(), store="memory://")
    app.finalize()
    yield app
    # test_context() builds the consumer (whose thread owns a never-started loop): close it.
    consumer = app.__dict__.get("_consumer")
    thread = getattr(consumer, "_thread", None) if consumer is not None else None
    if thread is not None and not thread.thread_loop.is_closed():
        thread.thread_loop.close()


async def test_valid_records_enter_the_mempool_and_bad_ones_go_to_the_dlq(app: Any) -> None:
    node = app.cybermesh
    now = node.ingest.clock_ms()
    dlqs = {t: FakeDlq() for t in topics.AI_TOPICS}
    node.ingest.dlqs = dlqs
    good = valid(topics.ANOMALIES, nonce=1, ts=now)
    junk = b"\x00\xff not protobuf"
    agent = node.agents[topics.ANOMALIES]
    async with agent.test_context() as ctx:
        await ctx.put(good)
        await ctx.put(junk)
        await ctx.put(good)  # the same bytes again: duplicate
        await ctx.put(None)  # a tombstone: undecodable? no, empty bytes decode; bad schema
    pool = node.mempool.pool
    assert len(pool) == 1 and pool.entries()[0].raw == good
    sent = dlqs[topics.ANOMALIES].sent
    assert [(raw, h["reject-reason"]) for raw, h in sent] == [
        (junk, b"undecodable"),
        (good, b"duplicate"),
        (b"", b"unsupported_version"),
    ]
    assert all(h["validator-id"] == b"v7" for _, h in sent)
    admitted = node.registry.get_sample_value(
        "cybermesh_admitted_total", {"topic": topics.ANOMALIES}
    )
    dup = node.registry.get_sample_value(
        "cybermesh_rejected_total", {"topic": topics.ANOMALIES, "reason": "duplicate"}
    )
    assert (admitted, dup) == (1.0, 1.0)
