"""One version's batch update of the sparse Merkle tree (docs/STATE.md §7-8). Pure.

Rules (the tree shape of cybermesh.state.smt):
1. The changes are sorted by key hash; the tree is walked once, descending only into
   subtrees that hold changed keys; untouched subtrees keep their nodes (and versions).
2. A rebuilt subtree with one leaf returns an *unplaced* leaf, which floats up until it
   meets a non-empty sibling; only then is it written, at its final position.
3. Every node replaced or moved is listed in `stale` (pruning deletes it later); every new
   node is in `puts` under the key of `version`.
"""

from __future__ import annotations

import hashlib
import struct
from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Any, Final

from cybermesh.state.smt import PLACEHOLDER, leaf_hash

EMPTY: Final = 0
LEAF: Final = 1
INTERNAL: Final = 2
UNPLACED: Final = -1
EMPTY_REF: Final = (EMPTY, PLACEHOLDER, 0)
_TOP: Final = 255
_sha256 = hashlib.sha256
Ref = tuple[Any, ...]
"""(kind, hash, node version), or an unplaced leaf (LEAF, hash, UNPLACED, khash, key, value)."""

_pack_qh = struct.Struct(">cQH").pack
_pack_q = struct.Struct(">cQ").pack
_pack_h = struct.Struct(">H").pack
_pack_node = struct.Struct(">QQBB").pack


def _sfx(depth: int, prefix: int) -> bytes:
    return _pack_h(depth) + (prefix >> (256 - depth)).to_bytes((depth + 7) >> 3, "big")


def node_key(version: int, depth: int, prefix: int) -> bytes:
    """``b"n" || u64 version || u16 depth || prefix`` (prefix: the path's first `depth` bits)."""
    return _pack_qh(b"n", version, depth) + (prefix >> (256 - depth)).to_bytes((depth + 7) >> 3, "big")


_nk = node_key


class TreeUpdate:
    """Collects the nodes one version writes (`puts`) and the node keys it makes stale."""

    def __init__(
        self,
        load: Callable[[bytes], Any],
        cache: dict[bytes, Any],
        version: int,
        changes: Iterable[tuple[bytes, bytes | None]],
    ) -> None:
        self.load = load
        self.cache = cache
        self.version = version
        self.vkey = _pack_q(b"n", version)
        self.puts: dict[bytes, bytes] = {}
        self.stale: list[bytes] = []
        self._prepare(changes)

    def _prepare(self, changes: Iterable[tuple[bytes, bytes | None]]) -> None:
        items = {}
        for key, value in changes:
            khash = _sha256(key).digest()
            items[int.from_bytes(khash, "big")] = (khash, key, value)
        self.kints = sorted(items)
        self.items = [(k, *items[k]) for k in self.kints]

    def unplace(self, ref: Ref, depth: int, prefix: int) -> Ref:
        """Rule 2: lift a written leaf (now alone in its parent) so it can float up."""
        if ref[2] == UNPLACED:
            return ref
        nk = _nk(ref[2], depth, prefix)
        khash, key, value = self.load(nk)
        self.stale.append(nk)
        return (LEAF, ref[1], UNPLACED, khash, key, value)

    def place(self, ref: Ref, depth: int, prefix: int) -> Ref:
        """Rule 2: write an unplaced leaf at (depth, prefix)."""
        if ref[2] != UNPLACED:
            return ref
        _, h, _, khash, key, value = ref
        nk = _nk(self.version, depth, prefix)
        self.puts[nk] = b"\x01" + khash + struct.pack(">I", len(key)) + key + value
        self.cache[nk] = (khash, key, value)
        return (LEAF, h, self.version)

    def combine(self, depth: int, prefix: int, left: Ref, right: Ref, sfx: bytes | None = None) -> Ref:
        """The subtree at (depth, prefix) from its children: empty, a floating leaf, or a
        new internal node (smt rules 1, 2, 4)."""
        lkind, rkind = left[0], right[0]
        if lkind == EMPTY:
            if rkind == EMPTY:
                return EMPTY_REF
            if rkind == LEAF:
                return self.unplace(right, depth + 1, prefix | (1 << (_TOP - depth)))
        elif rkind == EMPTY and lkind == LEAF:
            return self.unplace(left, depth + 1, prefix)
        if left[2] == UNPLACED:
            left = self.place(left, depth + 1, prefix)
        if right[2] == UNPLACED:
            right = self.place(right, depth + 1, prefix | (1 << (_TOP - depth)))
        lh, rh = left[1], right[1]
        nk = self.vkey + (sfx if sfx is not None else _sfx(depth, prefix))
        self.puts[nk] = b"\x02" + lh + rh + _pack_node(left[2], right[2], lkind, rkind)
        self.cache[nk] = ((lkind, lh, left[2]), (rkind, rh, right[2]))
        return (INTERNAL, _sha256(b"\x01" + lh + rh).digest(), self.version)

    def build(self, depth: int, prefix: int, leaves: list[Any]) -> Ref:
        """A fresh subtree holding exactly `leaves` (sorted (kint, khash, key, value))."""
        if not leaves:
            return EMPTY_REF
        if len(leaves) == 1:
            _, khash, key, value = leaves[0]
            return (LEAF, leaf_hash(khash, _sha256(value).digest()), UNPLACED, khash, key, value)
        bit = 1 << (_TOP - depth)
        mid = 0
        while mid < len(leaves) and not leaves[mid][0] & bit:
            mid += 1
        left = self.build(depth + 1, prefix, leaves[:mid])
        right = self.build(depth + 1, prefix | bit, leaves[mid:])
        return self.combine(depth, prefix, left, right)

    def update(self, ref: Ref, depth: int, prefix: int, lo: int, hi: int) -> Ref:
        """Rule 1: the subtree `ref` at (depth, prefix) with changes items[lo:hi] applied;
        returns `ref` itself (same object) when nothing in it changed."""
        if lo == hi:
            return ref
        kints, items = self.kints, self.items
        if ref[0] == INTERNAL:
            sfx = _pack_h(depth) + (prefix >> (256 - depth)).to_bytes((depth + 7) >> 3, "big")
            nk = _pack_q(b"n", ref[2]) + sfx
            node = self.cache.get(nk)
            left, right = node if node is not None else self.load(nk)
            bit = 1 << (_TOP - depth)
            mid = bisect_left(kints, prefix | bit, lo, hi)
            new_left = left if lo == mid else self.update(left, depth + 1, prefix, lo, mid)
            new_right = right if mid == hi else self.update(right, depth + 1, prefix | bit, mid, hi)
            if new_left is left and new_right is right:
                return ref
            self.stale.append(nk)
            return self.combine(depth, prefix, new_left, new_right, sfx)
        final = [items[i] for i in range(lo, hi) if items[i][3] is not None]
        if ref[0] == EMPTY and not final:  # deleting absent keys changes nothing
            return ref
        if ref[0] == LEAF:
            nk = _nk(ref[2], depth, prefix)
            khash, key, value = self.load(nk)
            kint = int.from_bytes(khash, "big")
            i = bisect_left(kints, kint, lo, hi)
            if i == hi or kints[i] != kint:
                if not final:
                    return ref
                final.append((kint, khash, key, value))
                final.sort(key=lambda item: item[0])
            elif len(final) == 1 and final[0][0] == kint and final[0][3] == value:
                return ref
            self.stale.append(nk)
        return self.build(depth, prefix, final)
