"""Mempool core: priority order, caps and eviction, age, removal, select."""

from __future__ import annotations

import hashlib

from cybermesh.mempool import Caps, Entry, Limits, Mempool, decode_entry, encode_entry
from cybermesh.proto.v1 import block_pb2

ANOMALY, EVIDENCE, POLICY = (
    block_pb2.TX_KIND_ANOMALY,
    block_pb2.TX_KIND_EVIDENCE,
    block_pb2.TX_KIND_POLICY,
)
BIG = Caps(max_txs=1000, max_bytes=10**9, max_age_ms=60_000)


def make_entry(
    n: int,
    kind: int = ANOMALY,
    score: int = 0,
    ts: int = 1000,
    size: int = 10,
    admitted_ms: int = 0,
) -> Entry:
    raw = n.to_bytes(4, "big") + bytes(max(size - 4, 0))
    return Entry(hashlib.sha256(raw).digest(), kind, raw, score, ts, admitted_ms)


def hashes(entries: object) -> list[bytes]:
    return [e.tx_hash for e in entries]  # type: ignore[attr-defined]


def test_priority_is_class_then_score_then_older_ts_then_hash() -> None:
    low = make_entry(1, score=10)
    high = make_entry(2, score=500)
    old_high = make_entry(3, score=500, ts=1)
    ev = make_entry(4, kind=EVIDENCE)
    pol = make_entry(5, kind=POLICY)
    pool = Mempool(BIG, [low, high, old_high, ev, pol])
    assert hashes(pool.select(Limits(10, 10**6))) == hashes([pol, ev, old_high, high, low])


def test_a_full_pool_evicts_the_worst_for_a_better_entry() -> None:
    pool = Mempool(Caps(2, 10**6, 60_000), [make_entry(1, score=5), make_entry(2, score=9)])
    result = pool.add(make_entry(3, score=7))
    assert result.added and result.evicted == (make_entry(1, score=5),)
    assert len(pool) == 2


def test_a_full_pool_refuses_a_worse_entry_and_keeps_everything() -> None:
    pool = Mempool(Caps(2, 10**6, 60_000), [make_entry(1, score=5), make_entry(2, score=9)])
    result = pool.add(make_entry(3, score=1))
    assert (result.added, result.refused, result.evicted) == (False, "full", ())
    assert len(pool) == 2


def test_byte_cap_evicts_several_small_for_one_large() -> None:
    pool = Mempool(Caps(10, 100, 60_000), [make_entry(n, score=1, size=30) for n in range(3)])
    result = pool.add(make_entry(9, score=2, size=60))
    assert result.added and len(result.evicted) == 2
    assert pool.total_bytes == 90


def test_refusals() -> None:
    pool = Mempool(Caps(10, 100, 60_000), [make_entry(1)])
    assert pool.add(make_entry(1)).refused == "duplicate"
    assert pool.add(make_entry(2, size=101)).refused == "too_large"


def test_expire_drops_entries_at_the_age_cap() -> None:
    pool = Mempool(BIG, [make_entry(1, admitted_ms=0), make_entry(2, admitted_ms=500)])
    assert pool.expire(59_999) == ()
    assert pool.expire(60_000) == (make_entry(1),)
    assert len(pool) == 1


def test_remove_committed_ignores_unknown_hashes() -> None:
    a, b = make_entry(1), make_entry(2)
    pool = Mempool(BIG, [a, b])
    assert pool.remove([a.tx_hash, b"\x00" * 32]) == (a,)
    assert a.tx_hash not in pool and b.tx_hash in pool
    assert pool.total_bytes == b.size


def test_select_skips_what_does_not_fit_and_stops_at_max_txs() -> None:
    big = make_entry(1, score=9, size=80)
    small = [make_entry(n, score=1, size=10) for n in range(2, 6)]
    pool = Mempool(BIG, [big, *small])
    picked = pool.select(Limits(max_txs=3, max_bytes=50))
    assert len(picked) == 3 and big not in picked
    assert sum(e.size for e in picked) <= 50


def test_record_round_trip() -> None:
    e = make_entry(7, kind=EVIDENCE, score=3, ts=123, admitted_ms=456)
    e = Entry(e.tx_hash, e.kind, e.raw, e.score, e.ts, e.admitted_ms, b"det-1\x00" + bytes(8), 99)
    assert decode_entry(e.tx_hash, encode_entry(e)) == e
