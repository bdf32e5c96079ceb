"""One version's batch update of the sparse Merkle tree, stored in pages (docs/STATE.md §7-8). Pure.

Storage unit: a *page* holds the binary subtree below an internal node at a depth that is a
multiple of PAGE_LEVELS, down PAGE_LEVELS levels. Slots are heap-indexed: slot 1 is the page
root (its ref lives in the parent page or the root record), slots 2i and 2i+1 are the children
of slot i; the bottom row (BOTTOM..2*BOTTOM-1) holds the roots of the child pages. A slot is a
*ref*: EMPTY ``0x00`` (hash PLACEHOLDER); LEAF ``0x01 || hash || u64 version || key_hash`` (the
leaf node is stored under ``b"f" || u64 version || key_hash``, independent of its position);
INTERNAL ``0x02 || hash || u64 version`` (inside the page: an internal node of this page; in
the bottom row: the child page, stored at that version). A page is stored as ``0x02`` and its
refs 2..2*BOTTOM-1 concatenated. The hashes are those of cybermesh.state.smt: pages
change the storage only, never a root or a proof.

Rules (the tree shape of cybermesh.state.smt):
1. The changes are sorted by key hash; the tree is walked once, descending only into
   subtrees that hold changed keys; untouched subtrees keep their refs (and pages).
2. A subtree with one leaf is that leaf's ref, which floats up until it meets a non-empty
   sibling. A new leaf is an *unplaced* tuple until it gets a sibling (or becomes the root);
   then it is written. Moving a written leaf rewrites nothing (its key has no position), so
   an update reads pages only, never leaves.
3. Every page or leaf replaced is listed in `stale` (pruning deletes it later); every new page
   and leaf is in `puts` under the key of `version`.
4. Slots below a slot that is not INTERNAL are EMPTY.
"""

from __future__ import annotations

import hashlib
import re
import struct
from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Any, Final

from cybermesh.state.smt import PLACEHOLDER, leaf_hash

EMPTY: Final = 0
LEAF: Final = 1
INTERNAL: Final = 2
PAGE: Final = 2
"""First byte of a stored page (a leaf node starts with LEAF)."""
PAGE_LEVELS: Final = 4
BOTTOM: Final = 1 << PAGE_LEVELS
"""First bottom-row slot; a page has 2*BOTTOM slots, of which 2..2*BOTTOM-1 are stored."""
EMPTY_REF: Final = b"\x00"
_SLOT: Final = re.compile(rb"\x00|\x01.{72}|\x02.{40}", re.DOTALL)
"""One ref of a stored page (an empty, leaf or internal ref)."""
_TOP: Final = 255
_sha256 = hashlib.sha256
Ref = Any
"""A ref (bytes), or an unplaced new leaf ``(LEAF, hash, khash, key, value)``."""
Page = list[bytes]

_pack_q = struct.Struct(">cQ").pack
_pack_h = struct.Struct(">H").pack
_pack_i = struct.Struct(">I").pack


def sfx(depth: int, prefix: int) -> bytes:
    """``u16 depth || prefix`` (prefix: the path's first `depth` bits, ceil(depth/8) bytes)."""
    return _pack_h(depth) + (prefix >> (256 - depth)).to_bytes((depth + 7) >> 3, "big")


def node_key(version: int, depth: int, prefix: int) -> bytes:
    """``b"n" || u64 version || u16 depth || prefix``: the key of a page."""
    return _pack_q(b"n", version) + sfx(depth, prefix)


def ref_key(ref: bytes, depth: int, prefix: int) -> bytes:
    """The key of the page an INTERNAL page-root ref at (depth, prefix) points to."""
    return b"n" + ref[33:41] + sfx(depth, prefix)


def leaf_key(ref: bytes) -> bytes:
    """``b"f" || u64 version || key_hash``: the key of the leaf node a LEAF ref points to."""
    return b"f" + ref[33:73]


def decode_page(raw: bytes) -> tuple[bytes, ...]:
    """A stored page as its slots (slots 0 and 1 are placeholders). A tuple of bytes, so the
    cyclic garbage collector untracks cached pages."""
    slots = _SLOT.findall(raw, 1)
    assert len(slots) == 2 * BOTTOM - 2 and sum(map(len, slots)) == len(raw) - 1, f"bad page of {len(raw)} bytes"
    return (EMPTY_REF, EMPTY_REF, *slots)


def decode_leaf(raw: bytes) -> tuple[bytes, bytes, bytes]:
    """A stored leaf node as (key_hash, key, value)."""
    (klen,) = struct.unpack_from(">I", raw, 33)
    return raw[1:33], raw[37 : 37 + klen], raw[37 + klen :]


class TreeUpdate:
    """Collects the pages and leaves one version writes (`puts`) and the keys it makes stale.

    `load(nk)` returns a decoded page (a tuple of slots) or leaf; `cache` receives every page
    written.
    """

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
        self.v8 = struct.pack(">Q", version)
        self.vkey = b"n" + self.v8
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

    # -- leaves ---------------------------------------------------------------------------
    def place(self, ref: Ref) -> bytes:
        """Rule 2: write an unplaced new leaf; return its ref (a ref is returned as is)."""
        if type(ref) is not tuple:
            return bytes(ref)  # already placed (a no-copy for bytes)
        _, h, khash, key, value = ref
        self.puts[b"f" + self.v8 + khash] = b"\x01" + khash + _pack_i(len(key)) + key + value
        placed: bytes = b"\x01" + h + self.v8 + khash
        return placed

    # -- pages ----------------------------------------------------------------------------
    def seal(self, page: Page, out: Ref, at: bytes) -> Ref:
        """Write `page` (rooted at the position whose key suffix is `at`) if its root `out` is
        internal; return `out`."""
        if type(out) is bytes and out[0] == INTERNAL:
            nk = self.vkey + at
            self.puts[nk] = b"\x02" + b"".join(page[2:])
            self.cache[nk] = tuple(page)
        return out

    def combine(self, page: Page, i: int, depth: int, prefix: int, left: Ref, right: Ref) -> Ref:
        """Slot i at (depth, prefix) from its children: empty, a floating leaf, or a new
        internal node (smt rules 1, 2, 4); sets the children's slots (rule 4)."""
        lkind, rkind = left[0], right[0]
        c = 2 * i
        if lkind == EMPTY:
            if rkind != INTERNAL:
                page[c] = page[c + 1] = EMPTY_REF
                return right
        elif rkind == EMPTY and lkind == LEAF:
            page[c] = page[c + 1] = EMPTY_REF
            return left
        if type(left) is tuple:
            left = self.place(left)
        if type(right) is tuple:
            right = self.place(right)
        page[c] = left
        page[c + 1] = right
        return b"\x02" + _sha256(b"\x01" + (left[1:33] or PLACEHOLDER) + (right[1:33] or PLACEHOLDER)).digest() + self.v8

    def build_page(self, depth: int, prefix: int, leaves: list[Any]) -> Ref:
        """A fresh subtree at a page root holding exactly `leaves`."""
        page = [EMPTY_REF] * (2 * BOTTOM)
        return self.seal(page, self.build(page, 1, depth, prefix, leaves), sfx(depth, prefix))

    def build(self, page: Page, i: int, depth: int, prefix: int, leaves: list[Any]) -> Ref:
        """A fresh subtree at slot i holding exactly `leaves`: sorted (kint, khash, key, value)
        of new leaves, or (kint, ref) of a written leaf."""
        if not leaves:
            return EMPTY_REF
        if len(leaves) == 1:
            if len(leaves[0]) == 2:
                return leaves[0][1]
            _, khash, key, value = leaves[0]
            return (LEAF, leaf_hash(khash, _sha256(value).digest()), khash, key, value)
        if i >= BOTTOM:
            return self.build_page(depth, prefix, leaves)
        bit = 1 << (_TOP - depth)
        mid = 0
        while mid < len(leaves) and not leaves[mid][0] & bit:
            mid += 1
        left = self.build(page, 2 * i, depth + 1, prefix, leaves[:mid])
        right = self.build(page, 2 * i + 1, depth + 1, prefix | bit, leaves[mid:])
        return self.combine(page, i, depth, prefix, left, right)

    # -- update ---------------------------------------------------------------------------
    def update(self, ref: Ref, depth: int, prefix: int, lo: int, hi: int) -> Ref:
        """Rule 1 at a page root: the subtree `ref` at (depth, prefix) with changes
        items[lo:hi] applied; returns `ref` itself (same object) when nothing changed."""
        if lo == hi:
            return ref
        at = sfx(depth, prefix)
        if ref[0] == INTERNAL:
            nk = b"n" + ref[33:41] + at
            cached = self.cache.get(nk)
            page = list(cached if cached is not None else self.load(nk))
            page[1] = ref
            if hi - lo == 1:
                out = self.walk1(page, 1, depth, prefix, lo)
            else:
                out = self.walk(page, 1, depth, prefix, lo, hi)
            if out is ref:
                return ref
            self.stale.append(nk)
            self.cache.pop(nk, None)  # the cache keeps live pages (reads of old versions reload)
        else:
            page = [EMPTY_REF] * (2 * BOTTOM)
            out = self.leafy(page, 1, ref, depth, prefix, lo, hi)
            if out is ref:
                return ref
        return self.seal(page, out, at)

    def walk(self, page: Page, i: int, depth: int, prefix: int, lo: int, hi: int) -> Ref:
        """Rule 1 inside a page: slot i (< BOTTOM) at (depth, prefix) with items[lo:hi] applied."""
        ref = page[i]
        if ref[0] != INTERNAL:
            return self.leafy(page, i, ref, depth, prefix, lo, hi)
        bit = 1 << (_TOP - depth)
        mid = bisect_left(self.kints, prefix | bit, lo, hi)
        c = 2 * i
        left, right = page[c], page[c + 1]
        if c >= BOTTOM:
            new_left = self.update(left, depth + 1, prefix, lo, mid)
            new_right = self.update(right, depth + 1, prefix | bit, mid, hi)
        else:
            if lo == mid:
                new_left = left
            else:
                new_left = self.walk1(page, c, depth + 1, prefix, lo) if mid - lo == 1 else self.walk(page, c, depth + 1, prefix, lo, mid)
            if mid == hi:
                new_right = right
            else:
                new_right = self.walk1(page, c + 1, depth + 1, prefix | bit, mid) if hi - mid == 1 else self.walk(page, c + 1, depth + 1, prefix | bit, mid, hi)
        if new_left is left and new_right is right:
            return ref
        return self.combine(page, i, depth, prefix, new_left, new_right)

    def walk1(self, page: Page, i: int, depth: int, prefix: int, lo: int) -> Ref:
        """`walk` for the single change items[lo]: descend by the key's bits without
        recursion, then combine back up to slot i."""
        top, ref, kint = i, page[i], self.kints[lo]
        while ref[0] == INTERNAL and i < BOTTOM:
            bit = 1 << (_TOP - depth)
            if kint & bit:
                i, prefix = 2 * i + 1, prefix | bit
            else:
                i = 2 * i
            depth += 1
            ref = page[i]
        if i >= BOTTOM:
            out = self.update(ref, depth, prefix, lo, lo + 1)
        else:
            out = self.leafy(page, i, ref, depth, prefix, lo, lo + 1)
        if out is ref:
            return page[top]
        v8 = self.v8
        while i != top:
            depth -= 1
            prefix &= ~(1 << (_TOP - depth))
            sib = page[i ^ 1]
            if sib[0] != EMPTY and type(out) is bytes and out[0] != EMPTY:  # combine(), inlined
                page[i] = out
                pair = sib[1:33] + out[1:33] if i & 1 else out[1:33] + sib[1:33]
                out = b"\x02" + _sha256(b"\x01" + pair).digest() + v8
            elif i & 1:
                out = self.combine(page, i >> 1, depth, prefix, sib, out)
            else:
                out = self.combine(page, i >> 1, depth, prefix, out, sib)
            i >>= 1
        return out

    def leafy(self, page: Page, i: int, ref: bytes, depth: int, prefix: int, lo: int, hi: int) -> Ref:
        """Rule 1 at an EMPTY or LEAF slot: rebuild it with items[lo:hi] (or keep `ref`)."""
        kints, items = self.kints, self.items
        final: list[Any] = [items[j] for j in range(lo, hi) if items[j][3] is not None]
        if ref[0] == EMPTY and not final:  # deleting absent keys changes nothing
            return ref
        if ref[0] == LEAF:
            khash = ref[41:73]
            kint = int.from_bytes(khash, "big")
            j = bisect_left(kints, kint, lo, hi)
            if j == hi or kints[j] != kint:  # the leaf's key is unchanged: it moves
                if not final:
                    return ref
                final.append((kint, ref))
                final.sort(key=lambda item: item[0])
            elif len(final) == 1 and final[0][0] == kint:  # an overwrite: hash the new leaf once
                _, _, key, value = final[0]
                new_hash = leaf_hash(khash, _sha256(value).digest())
                if new_hash == ref[1:33]:
                    return ref
                self.stale.append(leaf_key(ref))
                return (LEAF, new_hash, khash, key, value)
            else:
                self.stale.append(leaf_key(ref))
        return self.build(page, i, depth, prefix, final)
