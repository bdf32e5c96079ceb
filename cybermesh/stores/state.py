"""The validator's durable state store: a VersionedTree on RocksDB plus snapshot files.

Layout under `data_dir`: ``state/`` (RocksDB) and ``snapshots/<version:020d>.snap``.

Maintenance after each commit (`after_commit(version)`):
1. if `snapshot_interval` > 0 and version % snapshot_interval == 0, export the snapshot of
   `version` (written to a temp file, fsynced, renamed) and delete all but the newest
   `snapshot_keep` snapshot files;
2. if `retention_versions` > 0, prune so that versions >= version - retention_versions + 1
   stay readable.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cybermesh.config import StateSettings
from cybermesh.state.snapshot import export_snapshot, restore_snapshot
from cybermesh.state.tree import VersionedTree
from cybermesh.stores.rocks import RocksNodeStore

_READ = 1 << 20


@dataclass(frozen=True)
class SnapshotPolicy:
    snapshot_interval: int = 1_000
    """Export a snapshot every this many versions (0 = never)."""
    snapshot_keep: int = 2
    """Snapshot files kept."""
    retention_versions: int = 10_000
    """Versions kept readable (0 = keep all)."""


def write_snapshot(tree: VersionedTree, version: int, out: BinaryIO) -> None:
    """Export the snapshot of `version` to a binary stream."""
    for chunk in export_snapshot(tree, version):
        out.write(chunk)


def read_chunks(src: BinaryIO) -> Iterator[bytes]:
    while chunk := src.read(_READ):
        yield chunk


class StateStore:
    """Owns the RocksDB node store, the tree and the snapshot directory."""

    def __init__(
        self, data_dir: str | Path, policy: SnapshotPolicy = SnapshotPolicy(), *, sync: bool = False, node_cache: int = 1 << 18
    ) -> None:
        self.data_dir = Path(data_dir)
        self.policy = policy
        self.snapshot_dir = self.data_dir / "snapshots"
        self.snapshot_dir.mkdir(parents=True, exist_ok=True)
        self.nodes = RocksNodeStore(self.data_dir / "state", sync=sync)
        self.tree = VersionedTree(self.nodes, cache_limit=node_cache)

    @classmethod
    def from_settings(cls, data_dir: str | Path, state: StateSettings) -> StateStore:
        """The store configured by the `state` settings section."""
        policy = SnapshotPolicy(state.snapshot_interval, state.snapshot_keep, state.retention_versions)
        return cls(data_dir, policy, sync=state.sync, node_cache=state.node_cache)

    def close(self) -> None:
        self.nodes.close()

    def snapshots(self) -> list[Path]:
        """Snapshot files, oldest first."""
        return sorted(self.snapshot_dir.glob("*.snap"))

    def export(self, version: int) -> Path:
        """Write the snapshot of `version` atomically; return its path."""
        final = self.snapshot_dir / f"{version:020d}.snap"
        tmp = final.with_suffix(".tmp")
        with tmp.open("wb") as out:
            write_snapshot(self.tree, version, out)
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(final)
        return final

    def restore(self, path: str | Path, expected_root: bytes | None = None) -> tuple[int, bytes]:
        """Restore a snapshot file into this (empty) store; see restore_snapshot."""
        with Path(path).open("rb") as src:
            return restore_snapshot(self.tree, read_chunks(src), expected_root)

    def after_commit(self, version: int) -> None:
        """Maintenance rules 1-2 of the module docstring."""
        p = self.policy
        if p.snapshot_interval and version % p.snapshot_interval == 0:
            self.export(version)
            for old in self.snapshots()[: -p.snapshot_keep or None]:
                old.unlink()
        if p.retention_versions:
            oldest = self.tree.oldest
            keep_from = version - p.retention_versions + 1
            if oldest is not None and keep_from > oldest:
                self.tree.prune(keep_from)
