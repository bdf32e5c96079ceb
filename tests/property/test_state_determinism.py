"""Determinism of state roots: key write order, PYTHONHASHSEED, restarts, separate processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cybermesh.state import MemoryNodeStore, SparseMerkleProof, VersionedTree, verify_proof
from cybermesh.state import sample as s
from cybermesh.state.machine import StateMachine
from cybermesh.stores.rocks import RocksNodeStore

ROOT = Path(__file__).resolve().parents[2]
KEYS = [b"key/%d" % i for i in range(40)]
values = st.one_of(st.none(), st.binary(min_size=0, max_size=12))
batch = st.dictionaries(st.sampled_from(KEYS[:32]), values, max_size=20)


@settings(max_examples=60, deadline=None)
@given(st.lists(batch, min_size=1, max_size=8), st.randoms(use_true_random=False))
def test_roots_independent_of_write_order_and_proofs_hold(batches: list[dict[bytes, bytes | None]], rnd: object) -> None:
    ordered, shuffled = VersionedTree(MemoryNodeStore()), VersionedTree(MemoryNodeStore())
    model: dict[bytes, bytes] = {}
    for version, changes in enumerate(batches):
        items = list(changes.items())
        mixed = items[:]
        rnd.shuffle(mixed)  # type: ignore[attr-defined]
        root = ordered.apply(version, items)
        assert shuffled.apply(version, mixed) == root
        for k, v in items:
            if v is None:
                model.pop(k, None)
            else:
                model[k] = v
        fresh = VersionedTree(MemoryNodeStore())
        assert fresh.apply(0, sorted(model.items())) == root
    root = ordered.root()
    for key in KEYS:  # KEYS[32:] are never written: always absent
        proof = ordered.prove(key)
        value = model.get(key)
        assert verify_proof(root, key, value, proof)
        assert verify_proof(root, key, value, SparseMerkleProof.decode(proof.encode()))
        assert not verify_proof(root, key, (value or b"") + b"x", proof)
        if proof.siblings:
            sibs = list(proof.siblings)
            sibs[-1] = bytes([sibs[-1][0] ^ 0x80]) + sibs[-1][1:]
            assert not verify_proof(root, key, value, SparseMerkleProof(tuple(sibs), proof.leaf))


def _machine(store: object) -> StateMachine:
    m = StateMachine(VersionedTree(store), s.sample_genesis())  # type: ignore[arg-type]
    return m


def _blocks(count: int, per_block: int) -> tuple[list, list[bytes]]:  # type: ignore[type-arg]
    m = _machine(MemoryNodeStore())
    m.start()
    blocks, roots = [], []
    for h in range(1, count + 1):
        ts = s.GENESIS_TIME + h * 1_000
        block, _ = m.propose(s.workload(h, per_block, ts), "v0", h, ts)
        roots.append(m.commit(block, m.execute(block)))
        blocks.append(block)
    return blocks, roots


BLOCKS, ROOTS = _blocks(10, 5)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(min_value=0, max_value=9))
def test_restart_between_blocks_gives_equal_roots(split: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = RocksNodeStore(Path(tmp) / "db")
        m = _machine(store)
        m.start()
        for block in BLOCKS[:split]:
            m.commit(block, m.execute(block))
        store.close()
        store = RocksNodeStore(Path(tmp) / "db")
        m = _machine(store)
        assert m.parent == (BLOCKS[split - 1].header if split else m.parent)
        roots = [m.commit(b, m.execute(b)) for b in BLOCKS[split:]]
        store.close()
    assert roots == ROOTS[split:]


SCRIPT = """
import json
from cybermesh.state.sample import golden_chain
print(json.dumps([b["state_root"] for b in golden_chain(blocks=6, per_block=4)["blocks"]]))
"""


def test_two_processes_with_different_hash_seeds_agree() -> None:
    expected = [b["state_root"] for b in s.golden_chain(blocks=6, per_block=4)["blocks"]]
    outputs = []
    for seed in ("0", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
        outputs.append(json.loads(proc.stdout))
    assert outputs[0] == outputs[1] == expected
