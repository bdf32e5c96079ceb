"""Paged storage of the Merkle tree (cybermesh.state.treeupdate): what is read, written, pruned.

The layout is not a contract (roots are, see test_state_vectors); these tests pin the
properties the layout was chosen for, and that pruning neither leaks nor over-deletes.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Mapping

from cybermesh.state import MemoryNodeStore, VersionedTree
from cybermesh.state.smt import PLACEHOLDER, key_hash, leaf_hash, node_hash
from cybermesh.state.treeupdate import BOTTOM, INTERNAL, LEAF, decode_page, leaf_key, ref_key


class CountingStore(MemoryNodeStore):
    """MemoryNodeStore that records the keys read."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[bytes] = []

    def get(self, key: bytes) -> bytes | None:
        self.reads.append(key)
        return super().get(key)

    def write(self, puts: Mapping[bytes, bytes], deletes: Iterable[bytes]) -> None:
        super().write(puts, deletes)


def reachable(store: MemoryNodeStore, root: bytes) -> set[bytes]:
    """Keys of every page and leaf reachable from a 73-byte root ref (walking the pages)."""
    out: set[bytes] = set()
    stack = [(root, 0, 0)]
    while stack:
        ref, depth, prefix = stack.pop()
        if ref[0] == LEAF:
            out.add(leaf_key(ref))
        elif ref[0] == INTERNAL:
            nk = ref_key(ref, depth, prefix)
            out.add(nk)
            page = decode_page(store.data[nk])
            alive = {1}  # slots whose in-page ancestors are all internal (rule 4: others are empty)
            for i in range(2, 2 * BOTTOM):
                if i >> 1 not in alive or (i >> 1 > 1 and page[i >> 1][0] != INTERNAL):
                    continue
                alive.add(i)
                if i >= BOTTOM:  # a page root, 4 levels down: the path bits are i - BOTTOM
                    stack.append((page[i], depth + 4, prefix | ((i - BOTTOM) << (252 - depth))))
                elif page[i][0] == LEAF:
                    out.add(leaf_key(page[i]))
    return out


def changes(v: int) -> list[tuple[bytes, bytes | None]]:
    return [(b"k%d" % ((v * 37 + i * 11) % 700), None if (v + i) % 7 == 0 else b"v%d-%d" % (v, i)) for i in range(60)]


def test_updates_read_pages_only_never_leaves() -> None:
    store = CountingStore()
    t = VersionedTree(store, cache_limit=1_024)
    t.apply(0, [(b"k%d" % i, b"v") for i in range(2_000)])
    for v in range(1, 15):
        store.reads.clear()
        t._cache.clear()  # force reads through the store
        t.apply(v, changes(v))
        assert store.reads, "the update read nothing (cache not cleared?)"
        assert not [k for k in store.reads if k.startswith(b"f")]


def test_prune_to_latest_keeps_exactly_the_reachable_nodes() -> None:
    store = MemoryNodeStore()
    t = VersionedTree(store)
    t.apply(0, [(b"k%d" % i, b"v") for i in range(700)])
    for v in range(1, 30):
        t.apply(v, changes(v))
    t.prune(29)
    stored = {k for k in store.data if k[:1] in (b"n", b"f")}
    live = reachable(store, store.data[b"r" + (29).to_bytes(8, "big")])
    assert stored == live
    assert sum(k.startswith(b"f") for k in live) == len({k for _, k, _ in t.leaves(29)})


def reference_root(items: dict[bytes, bytes]) -> bytes:
    """The root by the smt rules alone (no pages, no versions): an independent oracle."""
    def sub(leaves: list[tuple[int, bytes, bytes]], depth: int) -> bytes:
        if not leaves:
            return PLACEHOLDER
        if len(leaves) == 1:
            return leaf_hash(leaves[0][1], leaves[0][2])
        bit = 1 << (255 - depth)
        return node_hash(sub([x for x in leaves if not x[0] & bit], depth + 1), sub([x for x in leaves if x[0] & bit], depth + 1))

    leaves = sorted((int.from_bytes(key_hash(k), "big"), key_hash(k), hashlib.sha256(v).digest()) for k, v in items.items())
    return sub(leaves, 0)


def test_random_updates_match_the_reference_root_at_every_version() -> None:
    """Inserts, overwrites, deletes and re-inserts over few keys, so leaves float up and down
    across page boundaries; old versions stay readable with the roots they had."""
    rng = random.Random(4)
    t = VersionedTree(MemoryNodeStore(), cache_limit=64)  # small cache: eviction runs too
    model: dict[bytes, bytes] = {}
    history = []
    for v in range(60):
        changes: dict[bytes, bytes | None] = {}
        for _ in range(rng.randint(1, 12)):
            k = b"key%d" % rng.randrange(40)
            changes[k] = None if rng.random() < 0.35 else b"val%d" % rng.randrange(5)
        root = t.apply(v, list(changes.items()))
        for k, val in changes.items():
            if val is None:
                model.pop(k, None)
            else:
                model[k] = val
        assert root == reference_root(model), f"version {v}"
        history.append((root, dict(model)))
    for v in range(0, 60, 7):
        root, snap = history[v]
        assert t.root(v) == root
        assert {k: val for _, k, val in t.leaves(v)} == snap
