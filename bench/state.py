#!/usr/bin/env python3
"""State benchmarks; prints one JSON object.

    python bench/state.py [--keys 100000,1000000] [--txs 2000] [--blocks 5] [--batch 1000]

Figures:
- execute: txs/s through execute_block (strict decode, Ed25519 verify, reducers), and with
  commit (tree apply of the block's changes) — one core, in-memory node store;
- merkle: updates/s applying batches (one version per batch) to a tree of N keys, memory
  and rocksdict backends;
- proofs: size (mean/max bytes, encoded) and verify time at N keys.

Times are CPU seconds of this process (time.process_time), so a shared machine's other load
does not count against the single-core figure; `*_wall` figures use the wall clock.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cybermesh.state import (
    MemoryNodeStore,
    SparseMerkleProof,
    VersionedTree,
    execute_block,
    verify_proof,
)
from cybermesh.state import sample as s
from cybermesh.state.machine import StateMachine
from cybermesh.stores.rocks import RocksNodeStore


def bench_execute(txs_per_block: int, blocks: int) -> dict[str, float]:
    m = StateMachine(VersionedTree(MemoryNodeStore()), s.sample_genesis(detectors=8, params={"block_max_txs": 100_000}))
    m.start()
    exec_time = commit_time = verified_time = 0.0
    total = 0
    for h in range(1, blocks + 1):
        ts = s.GENESIS_TIME + h * 1_000
        cands = [
            s.anomaly(f"det-{i % 8}", f"a{h}-{i}", f"10.{i % 250}.{h}.{i % 7}", (i % 10) + 1, 5_000 + i % 5_000, ts, h * 10**6 + i)
            for i in range(txs_per_block)
        ]
        cands += [s.evidence("analyst-0", f"e{h}-{j}", [f"a{h - 1}-{j}", f"a{h - 1}-{j + 1}"], ts, h * 10**6 + j) for j in range(txs_per_block // 20)] if h > 1 else []
        block, _ = m.propose(cands, "v0", h, ts)
        t0 = time.process_time()
        ex = m.execute(block)
        t1 = time.process_time()
        verified = {hashlib.sha256(tx.raw).digest() for tx in block.txs}
        t2 = time.process_time()
        execute_block(m.view, block, m.limits, verified)
        t3 = time.process_time()
        m.commit(block, ex)
        t4 = time.process_time()
        exec_time += t1 - t0
        verified_time += t3 - t2
        commit_time += t4 - t3
        total += len(block.txs)
    return {
        "txs": total,
        "execute_txs_per_s": round(total / exec_time),
        "execute_and_commit_txs_per_s": round(total / (exec_time + commit_time)),
        "execute_presverified_txs_per_s": round(total / verified_time),
    }


def _key(i: int) -> bytes:
    return b"rep/entity-%d" % i


def populate(tree: VersionedTree, n: int) -> None:
    """Insert n keys, then one full collection, so the timed rounds measure steady state
    (the first collector pass over a freshly built tree is a one-time cost at startup)."""
    step = 50_000
    for v, start in enumerate(range(0, n, step)):
        tree.apply(v, [(_key(i), b"%020d" % i) for i in range(start, min(n, start + step))])
    gc.collect()


def bench_updates(tree: VersionedTree, n: int, batch: int, rounds: int) -> tuple[int, int, int]:
    """(cpu, wall, main-thread cpu) updates/s; 1 in 6 updates inserts a new key, the rest
    overwrite. `cpu` counts every thread of the process (RocksDB flushes and compactions run
    on background threads); `main-thread` only the thread doing the tree update."""
    version = tree.latest + 1  # type: ignore[operator]
    cpu, wall, thread = time.process_time(), time.perf_counter(), time.thread_time()
    for _ in range(rounds):
        changes = [(_key((version * 7_919 + i * 104_729) % (n + n // 5)), b"new-%d-%d" % (version, i)) for i in range(batch)]
        tree.apply(version, changes)
        version += 1
    total = batch * rounds
    return (
        round(total / (time.process_time() - cpu)),
        round(total / (time.perf_counter() - wall)),
        round(total / (time.thread_time() - thread)),
    )


def bench_proofs(tree: VersionedTree, n: int, samples: int = 2_000) -> dict[str, float]:
    root = tree.root()
    sizes, gen, ver = [], 0.0, 0.0
    for j in range(samples):
        i = (j * 2_654_435_761) % (2 * n)  # half present, half absent
        key = _key(i)
        t0 = time.process_time()
        proof = tree.prove(key)
        raw = proof.encode()
        t1 = time.process_time()
        value = tree.get(key)
        t2 = time.process_time()
        assert verify_proof(root, key, value, SparseMerkleProof.decode(raw))
        t3 = time.process_time()
        sizes.append(len(raw))
        gen += t1 - t0
        ver += t3 - t2
    return {
        "proof_bytes_mean": round(statistics.mean(sizes), 1),
        "proof_bytes_max": max(sizes),
        "prove_us": round(gen / samples * 1e6, 1),
        "verify_us": round(ver / samples * 1e6, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", default="100000,1000000")
    ap.add_argument("--txs", type=int, default=2_000)
    ap.add_argument("--blocks", type=int, default=5)
    ap.add_argument("--batch", type=int, default=1_000)
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    out: dict[str, object] = {"machine": f"{platform.processor() or platform.machine()} python {platform.python_version()}"}
    out["loadavg_start"] = [round(x, 2) for x in os.getloadavg()]
    out["execute"] = bench_execute(args.txs, args.blocks)
    for n in (int(k) for k in args.keys.split(",")):
        tree = VersionedTree(MemoryNodeStore())
        populate(tree, n)
        res: dict[str, object] = {}
        for batch, rounds in ((args.batch, args.rounds), (args.batch * 10, max(2, args.rounds // 10))):
            cpu, wall, _ = bench_updates(tree, n, batch, rounds)
            res[f"memory_updates_per_s_batch_{batch}"] = cpu
            res[f"memory_updates_per_s_batch_{batch}_wall"] = wall
        res.update(bench_proofs(tree, n))
        del tree
        with tempfile.TemporaryDirectory() as tmp:
            rtree = VersionedTree(RocksNodeStore(Path(tmp) / "db"))
            populate(rtree, n)
            for batch, rounds in ((args.batch, args.rounds), (args.batch * 10, max(2, args.rounds // 10))):
                cpu, wall, thread = bench_updates(rtree, n, batch, rounds)
                res[f"rocksdb_updates_per_s_batch_{batch}"] = cpu
                res[f"rocksdb_updates_per_s_batch_{batch}_wall"] = wall
                res[f"rocksdb_updates_per_s_batch_{batch}_main_thread"] = thread
            rtree.store.close()  # type: ignore[attr-defined]
        out[f"keys_{n}"] = res
    out["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
