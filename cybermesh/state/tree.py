"""The versioned sparse Merkle tree over a NodeStore (docs/STATE.md §Merkle). Pure.

Storage layout (all in one NodeStore, so one atomic write per version):

- ``b"n" + u64 version + u16 depth + prefix`` -> page: the 4 binary levels below an internal
  node whose depth is a multiple of 4 (cybermesh.state.treeupdate), ``0x02 || 30 refs`` (heap
  slots 2..31; a ref is ``0x00`` (empty), ``0x02 || hash || u64 version`` (internal) or
  ``0x01 || hash || u64 version || key_hash`` (leaf)). `prefix` is the integer
  formed by the first `depth` bits of the path, big-endian in ceil(depth/8) bytes.
- ``b"f" + u64 version + key_hash`` -> leaf: ``0x01 || key_hash || u32 len(key) || key ||
  value``. Pages and leaves are written once, at the version that created them
  (Jellyfish-style keys), and never rewritten; a leaf's key does not depend on its position.
- ``b"r" + u64 version`` -> root ref (as a page slot).
- ``b"s" + u64 version`` -> page and leaf keys made stale by that version (``u8 len || key``)*.
- ``b"l" + key_hash`` -> value at the latest version (fast reads for execution).
- ``b"m" + name`` -> u64 metadata: ``latest``, ``oldest`` (oldest retained version).

Rules:
1. Versions are applied in order: the first at any version, then latest + 1 each time.
2. `apply` updates the tree once per version with all of that version's changes, sorted by
   key hash (so the write order of keys within a block does not matter).
3. Pruning to P keeps versions >= P readable and deletes every node made stale at a version
   <= P (such a node is referenced only by versions < P).
4. The storage layout is not a contract (roots and proofs are): it changed from one binary
   node per key to 16-ary pages without changing any root (tests/vectors/state).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any, Final

from cybermesh.state.nodestore import NodeStore
from cybermesh.state.smt import PLACEHOLDER, SparseMerkleProof
from cybermesh.state.treeupdate import (
    BOTTOM,
    EMPTY,
    EMPTY_REF,
    INTERNAL,
    LEAF,
    PAGE,
    Ref,
    TreeUpdate,
    decode_leaf,
    decode_page,
    leaf_key,
    ref_key,
)

_TOP: Final = 255
_sha256 = hashlib.sha256


class VersionError(ValueError):
    """A version that cannot be applied or read; carries the version and the store's range."""

    def __init__(self, reason: str, version: int, oldest: int | None, latest: int | None) -> None:
        super().__init__(f"{reason}: version {version} (retained {oldest}..{latest})")
        self.reason = reason
        self.version = version
        self.oldest = oldest
        self.latest = latest


class RootMismatchError(ValueError):
    """Restored data whose root is not the expected one; nothing was written."""

    def __init__(self, expected: bytes, actual: bytes) -> None:
        super().__init__(f"root {actual.hex()} != expected {expected.hex()}")
        self.expected = expected
        self.actual = actual


def _u64(raw: bytes | None) -> int | None:
    return None if raw is None else int.from_bytes(raw, "big")


class VersionedTree:
    """A sparse Merkle tree with one root per version, persisted through a NodeStore."""

    def __init__(self, store: NodeStore, cache_limit: int = 1 << 18) -> None:
        """`cache_limit`: decoded pages kept in memory (about 1.1 KB each)."""
        self.store = store
        self.cache_limit = cache_limit
        self._cache: dict[bytes, Any] = {}

    # -- metadata -------------------------------------------------------------------------
    @property
    def latest(self) -> int | None:
        """The newest applied version, or None for an empty store."""
        return _u64(self.store.get(b"mlatest"))

    @property
    def oldest(self) -> int | None:
        """The oldest retained (readable) version, or None for an empty store."""
        return _u64(self.store.get(b"moldest"))

    def _root_ref(self, version: int) -> bytes:
        latest, oldest = self.latest, self.oldest
        if latest is None or oldest is None or not oldest <= version <= latest:
            raise VersionError("not_retained", version, oldest, latest)
        raw = self.store.get(b"r" + struct.pack(">Q", version))
        assert raw is not None, f"root of retained version {version} missing"
        return raw

    def root(self, version: int | None = None) -> bytes:
        """The root hash at `version` (default: latest; PLACEHOLDER for an empty store)."""
        if version is None:
            version = self.latest
            if version is None:
                return PLACEHOLDER
        return bytes(self._root_ref(version)[1:33] or PLACEHOLDER)

    # -- node access ----------------------------------------------------------------------
    def _load(self, nk: bytes) -> Any:
        """A decoded page (cached; never mutated) or leaf node (not cached: a leaf is read
        once per change of its key)."""
        node = self._cache.get(nk)
        if node is not None:
            return node
        raw = self.store.get(nk)
        assert raw is not None, f"node {nk.hex()} missing"
        if raw[0] != PAGE:
            return decode_leaf(raw)
        if len(self._cache) >= self.cache_limit:
            self._bound_cache()
        node = self._cache[nk] = decode_page(raw)
        return node

    # -- reads ----------------------------------------------------------------------------
    def _descend(self, khash: bytes, version: int) -> tuple[list[bytes], bytes]:
        kint = int.from_bytes(khash, "big")
        ref, depth, prefix, siblings = self._root_ref(version), 0, 0, []
        page, i = [], 1
        while ref[0] == INTERNAL:
            if i == 1:
                page = self._load(ref_key(ref, depth, prefix))
            bit = 1 << (_TOP - depth)
            if kint & bit:
                siblings.append(page[2 * i][1:33] or PLACEHOLDER)
                i, prefix = 2 * i + 1, prefix | bit
            else:
                siblings.append(page[2 * i + 1][1:33] or PLACEHOLDER)
                i = 2 * i
            ref = page[i]
            depth += 1
            if i >= BOTTOM:
                i = 1
        return siblings, ref

    def get(self, key: bytes, version: int | None = None) -> bytes | None:
        """The value of `key` at `version` (default latest), None if absent."""
        khash = _sha256(key).digest()
        latest = self.latest
        if version is None or version == latest:
            return self.store.get(b"l" + khash)
        _, ref = self._descend(khash, version)
        if ref[0] != LEAF:
            return None
        lkh, _, value = self._load(leaf_key(ref))
        return bytes(value) if lkh == khash else None

    def prove(self, key: bytes, version: int | None = None) -> SparseMerkleProof:
        """An inclusion or non-inclusion proof of `key` at `version` (default latest)."""
        if version is None:
            version = self.latest if self.latest is not None else 0
        khash = _sha256(key).digest()
        siblings, ref = self._descend(khash, version)
        leaf = None
        if ref[0] == LEAF:
            lkh, _, value = self._load(leaf_key(ref))
            leaf = (bytes(lkh), _sha256(value).digest())
        return SparseMerkleProof(tuple(bytes(s) for s in siblings), leaf)

    def leaves(self, version: int) -> Iterator[tuple[bytes, bytes, bytes]]:
        """(key_hash, key, value) of every leaf at `version`, in key-hash order."""
        stack: list[tuple[bytes, int, int, Any, int]] = [(self._root_ref(version), 0, 0, None, 1)]
        while stack:
            ref, depth, prefix, page, i = stack.pop()
            if ref[0] == LEAF:
                khash, key, value = self._load(leaf_key(ref))
                yield bytes(khash), bytes(key), bytes(value)
            elif ref[0] == INTERNAL:
                if i == 1:
                    page = self._load(ref_key(ref, depth, prefix))
                c = 2 * i
                right = (page[c + 1], depth + 1, prefix | (1 << (_TOP - depth)))
                left = (page[c], depth + 1, prefix)
                if c >= BOTTOM:  # children are page roots
                    stack += [(*right, None, 1), (*left, None, 1)]
                else:
                    stack += [(*right, page, c + 1), (*left, page, c)]

    def _bound_cache(self) -> None:
        """Evict the oldest-inserted pages down to 3/4 of the limit. Every version rewrites
        (and re-inserts) the pages it touches, so the hot upper pages stay."""
        excess = len(self._cache) - self.cache_limit * 3 // 4
        if len(self._cache) >= self.cache_limit and excess > 0:
            for nk in list(islice(self._cache, excess)):
                del self._cache[nk]

    def _finish(self, version: int, up: TreeUpdate, root: Ref, extra: dict[bytes, bytes], deletes: list[bytes]) -> bytes:
        root = up.place(root)
        v = struct.pack(">Q", version)
        puts = up.puts
        puts[b"r" + v] = root
        if up.stale:
            puts[b"s" + v] = b"".join(bytes([len(nk)]) + nk for nk in up.stale)
        puts[b"mlatest"] = v
        puts.update(extra)
        self.store.write(puts, deletes)
        return bytes(root[1:33] or PLACEHOLDER)

    def apply(self, version: int, changes: Iterable[tuple[bytes, bytes | None]]) -> bytes:
        """Apply one version's changes (key -> value, or None to delete) in one atomic write;
        return the new root. Rule 1: `version` is latest + 1 (any version if empty). A key
        listed twice keeps its last value (execute_block lists each key once)."""
        latest = self.latest
        if latest is not None and version != latest + 1:
            raise VersionError("out_of_order", version, self.oldest, latest)
        self._bound_cache()
        up = TreeUpdate(self._load, self._cache, version, changes)
        root = self._root_ref(latest) if latest is not None else EMPTY_REF
        new_root = up.update(root, 0, 0, 0, len(up.items))
        extra: dict[bytes, bytes] = {}
        deletes = []
        for _, khash, _, value in up.items:
            if value is None:
                deletes.append(b"l" + khash)
            else:
                extra[b"l" + khash] = value
        if latest is None:
            extra[b"moldest"] = struct.pack(">Q", version)
        return self._finish(version, up, new_root, extra, deletes)

    def restore(self, version: int, items: Iterable[tuple[bytes, bytes]], expected_root: bytes) -> bytes:
        """Build `version` from scratch in an empty store; write nothing unless the root is
        `expected_root` (raise RootMismatchError)."""
        if self.latest is not None:
            raise VersionError("store_not_empty", version, self.oldest, self.latest)
        self._bound_cache()
        up = TreeUpdate(self._load, self._cache, version, items)
        root = up.build_page(0, 0, [i for i in up.items if i[3] is not None])
        actual = root[1:33] if root[0] != EMPTY else PLACEHOLDER
        if actual != expected_root:
            self._cache.clear()
            raise RootMismatchError(expected_root, bytes(actual))
        extra = {b"l" + kh: v for _, kh, _, v in up.items if v is not None}
        extra[b"moldest"] = struct.pack(">Q", version)
        return self._finish(version, up, root, extra, [])

    def prune(self, retain_from: int) -> int:
        """Rule 3: make `retain_from` the oldest readable version; return nodes deleted."""
        oldest, latest = self.oldest, self.latest
        if oldest is None or latest is None or retain_from <= oldest:
            return 0
        if retain_from > latest:
            raise VersionError("prune_past_latest", retain_from, oldest, latest)
        deletes: list[bytes] = []
        for version in range(oldest + 1, retain_from + 1):
            skey = b"s" + struct.pack(">Q", version)
            raw = self.store.get(skey) or b""
            pos = 0
            while pos < len(raw):
                n = raw[pos]
                deletes.append(raw[pos + 1 : pos + 1 + n])
                pos += 1 + n
            deletes.append(skey)
        nodes = len(deletes) - (retain_from - oldest)
        deletes += [b"r" + struct.pack(">Q", v) for v in range(oldest, retain_from)]
        for nk in deletes:
            self._cache.pop(nk, None)
        self.store.write({b"moldest": struct.pack(">Q", retain_from)}, deletes)
        return nodes
