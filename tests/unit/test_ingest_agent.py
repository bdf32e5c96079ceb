"""Ingest agent under agent.test_context() (memory store, no broker): routing of decisions."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cybermesh.admission import Candidate, replay_key, verify_candidates
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


@pytest.fixture
async def small_app(tmp_path: Path) -> AsyncIterator[Any]:
    settings = load_settings(data_dir=tmp_path, ingest={"audit_file": ""}, mempool={"max_txs": 1})
    app = create_app(settings, make_genesis(), store="memory://")
    app.finalize()
    yield app
    consumer = app.__dict__.get("_consumer")
    thread = getattr(consumer, "_thread", None) if consumer is not None else None
    if thread is not None and not thread.thread_loop.is_closed():
        thread.thread_loop.close()


async def test_refused_and_evicted_txs_keep_their_replay_entry(small_app: Any) -> None:
    node = small_app.cybermesh
    now = node.ingest.clock_ms()
    dlqs = {t: FakeDlq() for t in topics.AI_TOPICS}
    node.ingest.dlqs = dlqs
    mid = valid(topics.ANOMALIES, nonce=1, ts=now, severity=5)
    low = valid(topics.ANOMALIES, nonce=2, ts=now, severity=1)
    high = valid(topics.ANOMALIES, nonce=3, ts=now, severity=9)
    async with node.agents[topics.ANOMALIES].test_context() as ctx:
        for raw in (mid, low, high):
            await ctx.put(raw)
    assert [e.raw for e in node.mempool.pool.entries()] == [high]
    assert [h["reject-reason"] for _, h in dlqs[topics.ANOMALIES].sent] == [b"mempool_full"]
    # nonce 2 (refused) and nonce 1 (evicted) live in the replay table; nonce 3 in its record
    replay_keys = sorted(bytes(k) for k in node.replay.table)
    assert replay_keys == [replay_key("det-1", 1), replay_key("det-1", 2)]
    # a rebuild from the tables restores the whole replay cache and dedupe set
    await node.mempool.rebuild()
    for n in (1, 2, 3):
        assert node.replay.replay.is_seen(replay_key("det-1", n), now)
    assert node.replay.seen.is_seen(hashlib.sha256(low).digest(), now)
    assert [e.raw for e in node.mempool.pool.entries()] == [high]


async def test_threaded_verification_gives_the_inline_results(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, ingest={"audit_file": "", "verify_threads": 2})
    app = create_app(settings, make_genesis(), store="memory://")
    ingest = app.cybermesh.ingest
    now = ingest.clock_ms()
    raws = [valid(topics.ANOMALIES, nonce=n, ts=now) for n in range(100)]
    raws[7] = raws[7][:-1] + bytes([raws[7][-1] ^ 1])  # pubkey altered: key_mismatch
    tampered = bytearray(raws[40])
    tampered[-40] ^= 1  # inside the signature: bad signature
    raws[40] = bytes(tampered)
    checked = [ingest.admission.precheck(topics.ANOMALIES, r, now) for r in raws]
    candidates = [c for c in checked if isinstance(c, Candidate)]
    assert len(candidates) == 99
    threaded = await ingest._verify(candidates)
    assert threaded == verify_candidates(candidates)
    assert threaded.count(False) == 1
    ingest.verify_pool.shutdown()


async def test_a_record_already_committed_is_counted_not_admitted_nor_dlqd(app: Any) -> None:
    """Rule 7: the validator tells ingest what is committed; such a record skips the signature
    check, stays out of the mempool and the DLQ, and is counted."""
    node = app.cybermesh
    now = node.ingest.clock_ms()
    dlqs = {t: FakeDlq() for t in topics.AI_TOPICS}
    node.ingest.dlqs = dlqs
    old, new = valid(topics.ANOMALIES, nonce=1, ts=now), valid(topics.ANOMALIES, nonce=2, ts=now)
    committed = {hashlib.sha256(old).digest()}
    asked: list[bytes] = []

    def is_committed(tx_hash: bytes) -> bool:
        asked.append(tx_hash)
        return tx_hash in committed

    node.ingest.committed = is_committed
    async with node.agents[topics.ANOMALIES].test_context() as ctx:
        await ctx.put(old)
        await ctx.put(new)
    assert [e.raw for e in node.mempool.pool.entries()] == [new]
    assert dlqs[topics.ANOMALIES].sent == []
    assert set(asked) == {hashlib.sha256(old).digest(), hashlib.sha256(new).digest()}
    counted = node.registry.get_sample_value(
        "cybermesh_ingest_already_committed_total", {"topic": topics.ANOMALIES}
    )
    assert counted == 1.0
