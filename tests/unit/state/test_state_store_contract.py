"""One contract suite for the NodeStore port and the versioned tree, run on every backend.

Backends: MemoryNodeStore (the pure twin) and RocksNodeStore (rocksdict, cybermesh.stores).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cybermesh.state import (
    MemoryNodeStore,
    RootMismatchError,
    VersionedTree,
    VersionError,
    verify_proof,
)
from cybermesh.stores.rocks import RocksNodeStore


def batches(n: int) -> list[list[tuple[bytes, bytes | None]]]:
    out = []
    for v in range(n):
        out.append([(b"k%d" % ((v * 11 + i * 7) % 40), None if (v * i) % 5 == 3 else b"v%d.%d" % (v, i)) for i in range(8)])
    return out


def reference_roots(n: int) -> list[bytes]:
    t = VersionedTree(MemoryNodeStore())
    return [t.apply(v, b) for v, b in enumerate(batches(n))]


class NodeStoreContract:
    """Subclasses provide `make(tmp_path)` and `reopen(store, tmp_path)`."""

    def make(self, tmp_path: Path) -> Any:
        raise NotImplementedError

    def reopen(self, store: Any, tmp_path: Path) -> Any:
        raise NotImplementedError

    def test_get_write_and_delete_before_put(self, tmp_path: Path) -> None:
        s = self.make(tmp_path)
        assert s.get(b"a") is None
        s.write({b"a": b"1", b"b": b"2"}, [])
        s.write({b"b": b"3"}, [b"a", b"b"])
        assert (s.get(b"a"), s.get(b"b")) == (None, b"3")

    def test_roots_equal_reference_and_old_versions_readable(self, tmp_path: Path) -> None:
        t = VersionedTree(self.make(tmp_path))
        roots = [t.apply(v, b) for v, b in enumerate(batches(20))]
        assert roots == reference_roots(20)
        model: dict[bytes, bytes] = {}
        for v, batch in enumerate(batches(20)):
            for k, val in batch:
                if val is None:
                    model.pop(k, None)
                else:
                    model[k] = val
            if v in (3, 11, 19):
                for i in range(45):
                    key = b"k%d" % i
                    assert t.get(key, v) == model.get(key)
                    assert verify_proof(roots[v], key, model.get(key), t.prove(key, v))
        with pytest.raises(VersionError):
            t.apply(25, [])
        with pytest.raises(VersionError):
            t.root(20)

    def test_prune_keeps_retained_versions(self, tmp_path: Path) -> None:
        t = VersionedTree(self.make(tmp_path))
        roots = [t.apply(v, b) for v, b in enumerate(batches(20))]
        assert t.prune(15) > 0
        assert t.oldest == 15
        with pytest.raises(VersionError):
            t.root(14)
        fresh = VersionedTree(MemoryNodeStore())
        expected = [fresh.apply(v, b) for v, b in enumerate(batches(20))]
        for v in range(15, 20):
            assert t.root(v) == roots[v]
            for i in range(40):
                key = b"k%d" % i
                assert t.get(key, v) == fresh.get(key, v)
                assert verify_proof(expected[v], key, fresh.get(key, v), t.prove(key, v))

    def test_restart_continues_with_equal_roots(self, tmp_path: Path) -> None:
        s = self.make(tmp_path)
        t = VersionedTree(s)
        for v, b in enumerate(batches(12)[:7]):
            t.apply(v, b)
        t = VersionedTree(self.reopen(s, tmp_path))
        assert t.latest == 6
        roots = [t.apply(v, b) for v, b in list(enumerate(batches(12)))[7:]]
        assert roots == reference_roots(12)[7:]

    def test_restore_checks_root_and_writes_nothing_on_mismatch(self, tmp_path: Path) -> None:
        src = VersionedTree(MemoryNodeStore())
        for v, b in enumerate(batches(5)):
            src.apply(v, b)
        items = [(k, v) for _, k, v in src.leaves(4)]
        bad = VersionedTree(self.make(tmp_path / "bad"))
        with pytest.raises(RootMismatchError):
            bad.restore(4, items[:-1], src.root(4))
        assert bad.latest is None
        good = VersionedTree(self.make(tmp_path / "good"))
        assert good.restore(4, items, src.root(4)) == src.root(4)
        assert good.apply(5, [(b"k1", b"x")]) == src.apply(5, [(b"k1", b"x")])


class TestMemoryNodeStore(NodeStoreContract):
    def make(self, tmp_path: Path) -> Any:
        return MemoryNodeStore()

    def reopen(self, store: Any, tmp_path: Path) -> Any:
        return store


class TestRocksNodeStore(NodeStoreContract):
    def make(self, tmp_path: Path) -> Any:
        return RocksNodeStore(tmp_path / "db")

    def reopen(self, store: Any, tmp_path: Path) -> Any:
        store.close()
        return RocksNodeStore(tmp_path / "db")
