"""Consensus benchmark on the simulator (prints JSON).

For n = 4, 7, 16 replicas on a fault-free simulated network (one-way delays uniform in
[delay_min, delay_max] ms), all in one process on one core:

- committed blocks per simulated second, and per CPU second of the whole process;
- commit latency in rounds (committer's round - block round) and in simulated ms (first commit
  of a height - its proposal time), median and p99;
- CPU per committed block, and the signature work in it: Ed25519 signatures made and
  verifications performed per block (every replica verifies for itself: no shared cache),
  times the measured cost of one sign / verify on this machine.

    python bench/consensus.py [--seconds 20] [--sizes 4,7,16] [--delay-min 1 --delay-max 10]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import nacl.signing

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source checkout

from cybermesh.consensus.crypto import CachingVerifier
from cybermesh.sim.keys import signing_key
from cybermesh.sim.runner import Simulation
from cybermesh.sim.scenario import Scenario


class CountingKey(nacl.signing.SigningKey):
    signs = 0

    def sign(self, message: bytes, encoder: Any = None) -> Any:
        CountingKey.signs += 1
        return super().sign(message)


def _unit_costs() -> dict[str, float]:
    key = signing_key("v0")
    msg = b"x" * 120
    sig = key.sign(msg).signature
    vk = bytes(key.verify_key)
    verify = CachingVerifier(size=0)
    t = time.process_time()
    for _ in range(2000):
        key.sign(msg)
    sign_us = (time.process_time() - t) / 2000 * 1e6
    t = time.process_time()
    for _ in range(2000):
        verify(vk, msg, sig)
    verify_us = (time.process_time() - t) / 2000 * 1e6
    return {"sign_us": round(sign_us, 1), "verify_us": round(verify_us, 1)}


def _pct(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench(n: int, seconds: int, delay_min: int, delay_max: int) -> dict[str, Any]:
    sc = Scenario(name=f"bench-n{n}", n=n, seed=1, gst_ms=0, duration_ms=seconds * 1000,
                  delay_min_ms=delay_min, delay_max_ms=delay_max, delay_gst_ms=delay_max,
                  base_timeout_ms=max(100, 20 * delay_max), max_timeout_ms=4000)
    verifiers: dict[str, CachingVerifier] = {}

    def verifier(name: str) -> CachingVerifier:
        return verifiers.setdefault(name, CachingVerifier(size=4096))

    def key(author: str) -> nacl.signing.SigningKey:
        return CountingKey(bytes(signing_key(author)))

    CountingKey.signs = 0
    sim = Simulation(sc, verifier=verifier, key=key)
    sim.full = True
    t0 = time.process_time()
    result = sim.run()
    cpu = time.process_time() - t0
    log = result.commit_log
    blocks = len(log)
    checks = sum(v.checks for v in verifiers.values())
    rounds = [now_round - r for _, _, r, now_round, _ in log]
    latency = [t - proposed for t, _, _, _, proposed in log]
    return {
        "n": n, "ok": result.ok, "simulated_s": seconds, "blocks": blocks,
        "rounds": result.max_round, "messages": result.messages,
        "blocks_per_sim_s": round(blocks / seconds, 1),
        "blocks_per_cpu_s": round(blocks / cpu, 1),
        "commit_latency_rounds_median": statistics.median(rounds) if rounds else None,
        "commit_latency_rounds_p99": _pct(rounds, 0.99) if rounds else None,
        "commit_latency_ms_median": statistics.median(latency) if latency else None,
        "commit_latency_ms_p99": _pct(latency, 0.99) if latency else None,
        "cpu_ms_per_block_all_replicas": round(cpu / blocks * 1000, 2) if blocks else None,
        "cpu_ms_per_block_per_replica": round(cpu / blocks / n * 1000, 3) if blocks else None,
        "signatures_per_block": round(CountingKey.signs / blocks, 1) if blocks else None,
        "verifications_per_block": round(checks / blocks, 1) if blocks else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, help="simulated seconds per size")
    parser.add_argument("--sizes", default="4,7,16")
    parser.add_argument("--delay-min", type=int, default=1)
    parser.add_argument("--delay-max", type=int, default=10)
    args = parser.parse_args()
    costs = _unit_costs()
    runs = [bench(int(n), args.seconds, args.delay_min, args.delay_max)
            for n in args.sizes.split(",")]
    for r in runs:
        if r["blocks"]:
            sig_ms = (r["signatures_per_block"] * costs["sign_us"]
                      + r["verifications_per_block"] * costs["verify_us"]) / 1000
            r["signature_cpu_ms_per_block"] = round(sig_ms, 2)
            r["signature_share_of_cpu"] = round(sig_ms / r["cpu_ms_per_block_all_replicas"], 2)
    print(json.dumps({
        "benchmark": "consensus", "machine": platform.machine(), "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(), "network": {
            "delay_ms": [args.delay_min, args.delay_max], "faults": "none"},
        "ed25519": costs, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
