"""Snapshots: export at H, restore into an empty store, continue H+1..H+k with equal roots."""

from __future__ import annotations

from pathlib import Path

import pytest

from cybermesh.proto.v1 import block_pb2
from cybermesh.state import MemoryNodeStore, RootMismatchError, VersionedTree, VersionError
from cybermesh.state import sample as s
from cybermesh.state.machine import StateMachine
from cybermesh.state.snapshot import SnapshotFormatError, export_snapshot, restore_snapshot
from cybermesh.stores.state import SnapshotPolicy, StateStore


def chain(m: StateMachine, heights: range) -> tuple[list[block_pb2.Block], list[bytes]]:
    blocks, roots = [], []
    for h in heights:
        ts = s.GENESIS_TIME + h * 1_000
        block, _ = m.propose(s.workload(h, 6, ts), f"v{h % 4}", h, ts)
        roots.append(m.commit(block, m.execute(block)))
        blocks.append(block)
    return blocks, roots


def test_snapshot_restore_then_continue_gives_equal_roots() -> None:
    full = StateMachine(VersionedTree(MemoryNodeStore()), s.sample_genesis())
    full.start()
    blocks, roots = chain(full, range(1, 16))
    h = 8
    stream = list(export_snapshot(full.tree, h))
    tree = VersionedTree(MemoryNodeStore())
    version, root = restore_snapshot(tree, stream, expected_root=roots[h - 1])
    assert (version, root) == (h, roots[h - 1])
    restored = StateMachine(tree, s.sample_genesis())  # resumes from meta/tip
    assert restored.parent == blocks[h - 1].header
    for block, expected in zip(blocks[h:], roots[h:], strict=True):
        assert restored.commit(block, restored.execute(block)) == expected


def test_damaged_snapshots_are_refused_and_write_nothing() -> None:
    t = VersionedTree(MemoryNodeStore())
    for v in range(3):
        t.apply(v, [(b"k%d" % i, b"v%d" % (i + v)) for i in range(50)])
    data = b"".join(export_snapshot(t, 2))
    cases = {
        "flipped": data[:100] + bytes([data[100] ^ 1]) + data[101:],
        "truncated": data[:-5],
        "extra": data + b"x",
        "magic": b"X" + data[1:],
    }
    for name, bad in cases.items():
        target = VersionedTree(MemoryNodeStore())
        with pytest.raises((SnapshotFormatError, RootMismatchError)):
            restore_snapshot(target, [bad])
        assert target.latest is None, name
    with pytest.raises(RootMismatchError):
        restore_snapshot(VersionedTree(MemoryNodeStore()), [data], expected_root=b"\x01" * 32)
    # small chunks parse the same as one chunk
    target = VersionedTree(MemoryNodeStore())
    assert restore_snapshot(target, [data[i : i + 7] for i in range(0, len(data), 7)]) == (2, t.root(2))


def test_state_store_snapshots_every_n_and_prunes(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "v0", SnapshotPolicy(snapshot_interval=5, snapshot_keep=2, retention_versions=4))
    m = StateMachine(store.tree, s.sample_genesis())
    m.start()
    store.after_commit(0)
    for h in range(1, 13):
        ts = s.GENESIS_TIME + h * 1_000
        block, _ = m.propose(s.workload(h, 3, ts), "v0", h, ts)
        m.commit(block, m.execute(block))
        store.after_commit(h)
    assert [p.name for p in store.snapshots()] == [f"{5:020d}.snap", f"{10:020d}.snap"]
    assert store.tree.oldest == 9
    with pytest.raises(VersionError):
        store.tree.root(8)
    root10 = store.tree.root(10)
    other = StateStore(tmp_path / "v1")
    assert other.restore(store.snapshots()[-1], expected_root=root10) == (10, root10)
    other.close()
    store.close()


def test_state_store_from_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cybermesh.config import load_settings

    monkeypatch.setenv("CYBERMESH_STATE__SNAPSHOT_INTERVAL", "7")
    settings = load_settings(state={"retention_versions": 3})
    store = StateStore.from_settings(tmp_path, settings.state)
    assert store.policy == SnapshotPolicy(snapshot_interval=7, snapshot_keep=2, retention_versions=3)
    store.close()
