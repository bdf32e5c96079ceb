"""Snapshot stream format: export a version's leaves, restore them checked against the root.

Pure: the stream is an iterable of byte chunks; files live in cybermesh.stores.snapshots.

Format (all integers big-endian):
1. header: ``b"CMSNAP1\\n" || u64 version || root (32)``;
2. records, in key-hash order: ``u32 len(key) || key || u32 len(value) || value``;
3. trailer: ``u32 0xFFFFFFFF || u64 record count || SHA-256(every preceding byte)``.
Restore accepts a stream only if the checksum, the count and the rebuilt root all match (and
the root equals `expected_root` when the caller knows it from a certified header).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Iterator
from typing import Final

from cybermesh.state.tree import RootMismatchError, VersionedTree

MAGIC: Final = b"CMSNAP1\n"
_END: Final = 0xFFFFFFFF
_CHUNK: Final = 1 << 16


class SnapshotFormatError(ValueError):
    """A stream that is not a complete, intact snapshot; says what is wrong."""


def export_snapshot(tree: VersionedTree, version: int) -> Iterator[bytes]:
    """The snapshot of `version` as byte chunks (format rules 1-3)."""
    digest = hashlib.sha256()
    head = MAGIC + struct.pack(">Q", version) + tree.root(version)
    digest.update(head)
    yield head
    buf: list[bytes] = []
    size = count = 0
    for _, key, value in tree.leaves(version):
        rec = struct.pack(">I", len(key)) + key + struct.pack(">I", len(value)) + value
        buf.append(rec)
        size += len(rec)
        count += 1
        if size >= _CHUNK:
            chunk = b"".join(buf)
            digest.update(chunk)
            yield chunk
            buf, size = [], 0
    tail = b"".join(buf) + struct.pack(">IQ", _END, count)
    digest.update(tail)
    yield tail + digest.digest()


def _records(chunks: Iterable[bytes]) -> Iterator[tuple[bytes, bytes] | tuple[int, int, bytes]]:
    """Parse and check the stream: first (-1, version, root), then (key, value) records;
    the checksum and count are checked when the records run out."""
    digest = hashlib.sha256()
    buf = bytearray()
    it = iter(chunks)
    pos = 0

    def need(n: int) -> None:
        nonlocal pos
        while len(buf) - pos < n:
            chunk = next(it, None)
            if chunk is None:
                raise SnapshotFormatError("stream ends early")
            if pos > _CHUNK:
                digest.update(buf[:pos])
                del buf[:pos]
                pos = 0
            buf.extend(chunk)

    def take(n: int) -> bytes:
        nonlocal pos
        need(n)
        out = bytes(buf[pos : pos + n])
        pos += n
        return out

    head = take(8 + 8 + 32)
    if head[:8] != MAGIC:
        raise SnapshotFormatError("bad magic")
    yield (-1, struct.unpack(">Q", head[8:16])[0], head[16:48])
    count = 0
    while True:
        (klen,) = struct.unpack(">I", take(4))
        if klen == _END:
            break
        key = take(klen)
        (vlen,) = struct.unpack(">I", take(4))
        yield key, take(vlen)
        count += 1
    (declared,) = struct.unpack(">Q", take(8))
    digest.update(buf[:pos])
    expected = digest.digest()
    trailer = take(32)
    if next(it, None) is not None or pos != len(buf):
        raise SnapshotFormatError("bytes after the trailer")
    if declared != count or trailer != expected:
        raise SnapshotFormatError(f"checksum or count mismatch ({count} records, trailer says {declared})")


def restore_snapshot(tree: VersionedTree, chunks: Iterable[bytes], expected_root: bytes | None = None) -> tuple[int, bytes]:
    """Restore a snapshot stream into the empty `tree`; return (version, root).

    Raises SnapshotFormatError (damaged stream) or RootMismatchError (rebuilt root differs
    from the snapshot's root or from `expected_root`); in both cases nothing is written.
    """
    records = _records(chunks)
    head = next(records)
    assert len(head) == 3
    _, version, root = head
    assert isinstance(version, int) and isinstance(root, bytes)
    if expected_root is not None and root != expected_root:
        raise RootMismatchError(expected_root, root)
    items = [r for r in records if len(r) == 2]
    return version, tree.restore(version, items, root)
