"""Sparse Merkle tree: roots, proofs, tamper detection, proof encoding (cybermesh.state.smt)."""

from __future__ import annotations

import hashlib

import pytest

from cybermesh.state import (
    PLACEHOLDER,
    MemoryNodeStore,
    SparseMerkleProof,
    VersionedTree,
    verify_proof,
)
from cybermesh.state.smt import ProofFormatError, key_hash, leaf_hash, node_hash


def H(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def tree_with(items: dict[bytes, bytes]) -> VersionedTree:
    t = VersionedTree(MemoryNodeStore())
    t.apply(0, list(items.items()))
    return t


def test_empty_and_single_leaf_roots() -> None:
    assert tree_with({}).root() == PLACEHOLDER
    assert tree_with({b"k": b"v"}).root() == leaf_hash(key_hash(b"k"), H(b"v"))


def test_two_leaves_root_by_hand() -> None:
    # find two keys whose hashes differ in the first bit, and two that share it
    keys = [b"k%d" % i for i in range(64)]
    a = next(k for k in keys if key_hash(k)[0] < 0x80)
    b = next(k for k in keys if key_hash(k)[0] >= 0x80)
    la, lb = leaf_hash(key_hash(a), H(b"1")), leaf_hash(key_hash(b), H(b"2"))
    assert tree_with({a: b"1", b: b"2"}).root() == node_hash(la, lb)
    c = next(k for k in keys if k != a and key_hash(k)[0] < 0x80)
    # a and c share bit 0: root = node(subtree(a, c), leaf b)
    inner = tree_with({a: b"1", c: b"3"}).root()
    assert tree_with({a: b"1", b: b"2", c: b"3"}).root() != inner
    t = tree_with({a: b"1", b: b"2", c: b"3"})
    p = t.prove(b)
    assert p.siblings[0] != PLACEHOLDER and len(p.siblings) == 1


def test_inclusion_and_non_inclusion_proofs() -> None:
    items = {b"key%d" % i: b"value%d" % i for i in range(300)}
    t = tree_with(items)
    root = t.root()
    for k, v in items.items():
        p = t.prove(k)
        assert verify_proof(root, k, v, p)
        assert not verify_proof(root, k, v + b"!", p)
        assert not verify_proof(root, k, None, p)
    for i in range(300, 400):
        k = b"key%d" % i
        p = t.prove(k)
        assert verify_proof(root, k, None, p)
        assert not verify_proof(root, k, b"value", p)
    # both kinds of non-inclusion occur: ending in an empty subtree and at another leaf
    kinds = {t.prove(b"key%d" % i).leaf is None for i in range(300, 400)}
    assert kinds == {True, False}


def test_tampered_proofs_fail() -> None:
    items = {b"key%d" % i: b"v%d" % i for i in range(64)}
    t = tree_with(items)
    root = t.root()
    p = t.prove(b"key7")
    for i in range(len(p.siblings)):
        sibs = list(p.siblings)
        sibs[i] = bytes([sibs[i][0] ^ 1]) + sibs[i][1:]
        assert not verify_proof(root, b"key7", b"v7", SparseMerkleProof(tuple(sibs), p.leaf))
    assert not verify_proof(root, b"key7", b"v7", SparseMerkleProof(p.siblings[1:], p.leaf))
    assert not verify_proof(root, b"key7", b"v7", SparseMerkleProof((*p.siblings, PLACEHOLDER), p.leaf))
    assert not verify_proof(root[:31] + b"\x00", b"key7", b"v7", p)
    absent = t.prove(b"absent")
    # a proof for another key's absence/presence does not prove this one
    assert not verify_proof(root, b"key8", b"v8", p)
    if absent.leaf is not None:
        assert not verify_proof(root, b"absent", None, SparseMerkleProof(absent.siblings, (key_hash(b"absent"), absent.leaf[1])))


def test_proof_encoding_roundtrip_and_garbage() -> None:
    t = tree_with({b"key%d" % i: b"v" for i in range(1000)})
    for k in (b"key1", b"nope"):
        p = t.prove(k)
        raw = p.encode()
        assert SparseMerkleProof.decode(raw) == p
        assert len(raw) == 2 + (len(p.siblings) + 7) // 8 + 32 * sum(s != PLACEHOLDER for s in p.siblings) + (65 if p.leaf else 1)
    for bad in (b"", b"\x00", b"\x01\x00\xff" + b"\x00" * 10, b"\x00\x00\x02", b"\x00\x00\x01" + b"x" * 10):
        with pytest.raises(ProofFormatError):
            SparseMerkleProof.decode(bad)


def test_updates_and_deletes_match_a_fresh_build() -> None:
    t = VersionedTree(MemoryNodeStore())
    model: dict[bytes, bytes] = {}
    for v in range(40):
        changes = {b"k%d" % ((v * 7 + i * 13) % 50): (None if (v + i) % 4 == 0 else b"%d-%d" % (v, i)) for i in range(9)}
        root = t.apply(v, list(changes.items()))
        for k, val in changes.items():
            if val is None:
                model.pop(k, None)
            else:
                model[k] = val
        assert root == tree_with(model).root()
    # delete everything -> empty root
    assert t.apply(40, [(k, None) for k in model]) == PLACEHOLDER


def test_deleting_absent_keys_writes_no_nodes() -> None:
    store = MemoryNodeStore()
    t = VersionedTree(store)
    root = t.apply(0, [(b"key%d" % i, b"v") for i in range(100)])
    before = {k for k in store.data if k.startswith(b"n")}
    assert t.apply(1, [(b"absent%d" % i, None) for i in range(50)]) == root
    assert {k for k in store.data if k.startswith(b"n")} == before
