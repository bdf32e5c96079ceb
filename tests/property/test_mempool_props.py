"""Mempool invariants under random operation sequences (hypothesis).

1. Caps are never exceeded, and total_bytes is the sum of the entries' sizes.
2. Eviction takes only entries worse than the newcomer, and they were the worst in the pool.
3. A refused newcomer leaves the pool unchanged.
4. select() depends on the contents only (not insertion order), respects its limits and
   equals the reference: greedy over entries sorted by priority_key.
"""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from cybermesh.mempool import Caps, Entry, Limits, Mempool, priority_key

entries = st.builds(
    lambda n, kind, score, ts, size, age: Entry(
        hashlib.sha256(n.to_bytes(4, "big")).digest(), kind, bytes(size), score, ts, age
    ),
    n=st.integers(0, 60),
    kind=st.integers(1, 3),
    score=st.integers(0, 5),
    ts=st.integers(0, 5),
    size=st.integers(1, 50),
    age=st.integers(0, 100),
)
caps = st.builds(Caps, st.integers(1, 12), st.integers(50, 300), st.integers(1, 100))
ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), entries),
        st.tuples(st.just("remove"), entries),
        st.tuples(st.just("expire"), st.integers(0, 200)),
    ),
    max_size=60,
)


def check_invariants(pool: Mempool) -> None:
    listed = pool.entries()
    assert len(listed) == len(pool) <= pool.caps.max_txs
    assert pool.total_bytes == sum(e.size for e in listed) <= pool.caps.max_bytes
    assert [priority_key(e) for e in listed] == sorted(priority_key(e) for e in listed)


@settings(max_examples=400)
@given(caps, ops)
def test_caps_and_eviction_order(cap: Caps, sequence: list[tuple[str, object]]) -> None:
    pool = Mempool(cap)
    for op, arg in sequence:
        before = pool.entries()
        if op == "add":
            assert isinstance(arg, Entry)
            result = pool.add(arg)
            if result.added:
                key = priority_key(arg)
                evicted = {e.tx_hash for e in result.evicted}
                victims = [e for e in before if e.tx_hash in evicted]
                assert victims == sorted(result.evicted, key=priority_key)
                kept = [e for e in before if e.tx_hash not in evicted]
                assert all(priority_key(v) > key for v in victims)
                if victims:
                    worst_kept = max((priority_key(e) for e in kept), default=None)
                    assert worst_kept is None or worst_kept < min(priority_key(v) for v in victims)
            else:
                assert pool.entries() == before and result.evicted == ()
        elif op == "remove":
            assert isinstance(arg, Entry)
            pool.remove([arg.tx_hash])
            assert arg.tx_hash not in pool
        else:
            assert isinstance(arg, int)
            pool.expire(arg)
            assert all(e.admitted_ms + cap.max_age_ms > arg for e in pool.entries())
        check_invariants(pool)


@settings(max_examples=300)
@given(
    st.lists(entries, max_size=40, unique_by=lambda e: e.tx_hash),
    st.randoms(use_true_random=False),
    st.integers(0, 50),
    st.integers(0, 800),
)
def test_select_is_deterministic_and_bounded(
    content: list[Entry], rnd: object, max_txs: int, max_bytes: int
) -> None:
    big = Caps(1000, 10**9, 10**9)
    shuffled = list(content)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    limits = Limits(max_txs, max_bytes)
    picked = Mempool(big, content).select(limits)
    assert picked == Mempool(big, shuffled).select(limits)
    assert len(picked) <= max_txs and sum(e.size for e in picked) <= max_bytes
    reference: list[Entry] = []
    for e in sorted(content, key=priority_key):
        if len(reference) < max_txs and sum(x.size for x in reference) + e.size <= max_bytes:
            reference.append(e)
    assert list(picked) == reference
