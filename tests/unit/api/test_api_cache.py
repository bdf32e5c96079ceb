"""The answer cache (cybermesh/api/cache.py rules 1-3)."""

from __future__ import annotations

from cybermesh.api.cache import AnswerCache


def test_versions_miss_and_lru_keeps_within_bytes() -> None:
    c = AnswerCache(max_bytes=800)
    c.put(("/a", 1), 200, b"x" * 100)
    assert c.get(("/a", 1)) == (200, b"x" * 100)
    assert c.get(("/a", 2)) is None  # another version misses
    for i in range(10):
        c.put((f"/b{i}", 0), 200, b"y" * 100)
        assert c.size <= 800
    assert c.get(("/a", 1)) is None  # least recently used went first
    assert c.get(("/b9", 0)) == (200, b"y" * 100)
    assert len(c) == 8 and c.size == 800


def test_replacing_and_oversized_bodies() -> None:
    c = AnswerCache(max_bytes=800)
    c.put(("/a", 1), 200, b"x" * 50)
    c.put(("/a", 1), 404, b"z" * 20)
    assert c.get(("/a", 1)) == (404, b"z" * 20) and c.size == 20
    c.put(("/big", 1), 200, b"q" * 101)  # > max_bytes // 8
    assert c.get(("/big", 1)) is None and c.size == 20
    assert (c.hits, c.misses) == (1, 1)
