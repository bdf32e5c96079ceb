"""Admission throughput: the pure core alone, and the real agent from the real broker.

    .venv/bin/python bench/admission.py core  [--n 20000]
    CYBERMESH_KAFKA_BOOTSTRAP=127.0.0.1:39092 .venv/bin/python bench/admission.py agent [--n 30000]
    .venv/bin/python bench/admission.py profile [--n 20000]     # cProfile of the core, top 15

Prints one JSON object per run. `agent` also measures a no-op Faust agent over the same
backlog (`faust_noop_msg_per_s`): Faust's own consumption ceiling on the machine at that time. Targets: core >= 15,000 msg/s on one core, agent >= 5,000
msg/s end to end (one worker, one partition, backlog pre-produced).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import platform
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nacl.bindings
import nacl.signing

from cybermesh.admission import Admission, Admitted, State, rules_for
from cybermesh.wire import ed25519, topics
from tests.admission_kit import anomaly, evidence, make_genesis, policy, signed

CAPS = {t: 64 * 1024 for t in topics.AI_TOPICS}


def records(n: int, now: int) -> list[tuple[str, bytes]]:
    """n valid records: 80% anomalies (~300 B payload), 10% evidence, 10% policy."""
    out = []
    for i in range(n):
        if i % 10 < 8:
            msg = anomaly(nonce=i, ts=now, payload=os.urandom(300))
            out.append((topics.ANOMALIES, signed(topics.ANOMALIES, msg)))
        elif i % 10 == 8:
            out.append((topics.EVIDENCE, signed(topics.EVIDENCE, evidence(nonce=i, ts=now))))
        else:
            out.append((topics.POLICY, signed(topics.POLICY, policy(nonce=i, ts=now))))
    return out


def machine() -> dict[str, object]:
    return {
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "load1": os.getloadavg()[0],
    }


def verify_alone(n: int) -> dict[str, float]:
    """Ed25519 verifications/s of one 420-byte message, per implementation (one core)."""
    key = nacl.signing.SigningKey(b"\x01" * 32)
    msg = b"x" * 420
    sig = key.sign(msg).signature
    pk = bytes(key.verify_key)
    out = {}
    t = time.perf_counter()
    for _ in range(n):
        nacl.bindings.crypto_sign_open(sig + msg, pk)
    out["libsodium"] = n / (time.perf_counter() - t)
    if ed25519.BACKEND == "native":
        t = time.perf_counter()
        assert all(ed25519.verify_many([pk] * n, [msg] * n, [sig] * n))
        out["native"] = n / (time.perf_counter() - t)
    return out


def run_core(n: int) -> dict[str, object]:
    now = 1_767_225_600_000
    recs = records(n, now)
    by_topic: dict[str, list[bytes]] = {t: [] for t in topics.AI_TOPICS}
    for t, raw in recs:
        by_topic[t].append(raw)
    adm = Admission(make_genesis(), rules_for(60_000, 10**9, 10**9, CAPS))
    best = 0.0
    for _ in range(3):
        state = State()
        t0 = time.perf_counter()
        admitted = 0
        for t, raws in by_topic.items():
            admitted += sum(isinstance(d, Admitted) for d in adm.admit_batch(t, raws, now, state))
        rate = n / (time.perf_counter() - t0)
        assert admitted == n
        best = max(best, rate)
    verify = verify_alone(min(n, 10_000))
    return {
        "bench": "admission.core",
        "n": n,
        "msg_per_s": round(best),
        "ed25519_backend": ed25519.BACKEND,
        "verify_alone_per_s": {k: round(v) for k, v in verify.items()},
        "non_crypto_us_per_msg": round(1e6 / best - 1e6 / verify[ed25519.BACKEND], 2),
        "target_msg_per_s": 15_000,
        "machine": machine(),
    }


def run_profile(n: int) -> None:
    now = 1_767_225_600_000
    raws = [raw for t, raw in records(n, now) if t == topics.ANOMALIES]
    adm = Admission(make_genesis(), rules_for(60_000, 10**9, 10**9, CAPS))
    prof = cProfile.Profile()
    prof.enable()
    adm.admit_batch(topics.ANOMALIES, raws, now, State())
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(15)
    print(out.getvalue())


def run_agent(
    n: int, bootstrap: str, profile_to: Path | None = None, extra: dict[str, str] | None = None
) -> dict[str, object]:
    from tests.ingest_worker import Worker, produce

    async def main() -> dict[str, object]:
        base = Path(tempfile.mkdtemp(prefix="cybermesh-bench-"))
        worker = Worker(
            bootstrap,
            make_genesis(),
            base,
            admission__rate_per_s=10**9,
            admission__burst=10**9,
            mempool__max_txs=max(100_000, 2 * n),
            ingest__audit_file="audit.jsonl",
            **(extra or {}),
        )
        await worker.create_topics()
        now = int(time.time() * 1000) + 30_000  # fresh for the whole run (skew 60 s)
        recs = records(n, now)
        await produce(bootstrap, [(worker.topic(t), raw) for t, raw in recs])
        worker.start(profile_to)
        try:
            await worker.wait_ready()
            first_t, first_n = None, 0
            deadline = time.monotonic() + 300
            admitted = 0.0
            while time.monotonic() < deadline:
                admitted = json.loads(worker.get("/mempool/?txs=0"))["count"]
                if admitted and first_t is None:
                    first_t, first_n = time.perf_counter(), admitted
                if admitted >= n:
                    break
                await asyncio.sleep(0.1)
            elapsed = time.perf_counter() - (first_t or time.perf_counter())
            stage = _stage_split(worker.metrics())
            return {
                "bench": "admission.agent",
                "n": n,
                "admitted": int(admitted),
                "msg_per_s": round((admitted - first_n) / elapsed) if elapsed else None,
                "seconds": round(elapsed, 2),
                "target_msg_per_s": 5_000,
                # wall time inside Ingest.process per record (admission + mempool + tables);
                # the rest of 1e6/msg_per_s is Faust's consumer, changelog sends and the loop
                "ingest_process_us_per_msg": stage,
                "partitions": 1,
                "workers": 1,
                "settings": extra or {},
                "machine": machine(),
            }
        finally:
            worker.stop()

    return asyncio.run(main())


def _stage_split(metrics: str) -> float | None:
    """µs of Ingest.process per record, from the worker's own histograms."""
    values: dict[str, float] = {}
    for line in metrics.splitlines():
        name, _, value = line.partition(" ")
        if name in ("cybermesh_admission_batch_seconds_sum", "cybermesh_admission_batch_records_sum"):
            values[name] = float(value)
    records = values.get("cybermesh_admission_batch_records_sum")
    if not records:
        return None
    return round(values["cybermesh_admission_batch_seconds_sum"] / records * 1e6, 1)


def run_noop(n: int, bootstrap: str) -> int | None:
    """msg/s of a no-op Faust agent over a backlog of n records (Faust's own ceiling)."""
    import subprocess
    import uuid

    from tests.ingest_worker import FAUST, create_topics, produce

    tag = uuid.uuid4().hex[:8]
    topic = f"bench-noop-{tag}"
    asyncio.run(create_topics(bootstrap, [topic]))
    asyncio.run(produce(bootstrap, [(topic, os.urandom(450)) for _ in range(n)]))
    env = dict(
        os.environ,
        NOOP_N=str(n),
        NOOP_TAG=tag,
        NOOP_TOPIC=topic,
        CYBERMESH_KAFKA_BOOTSTRAP=bootstrap,
        PYTHONPATH=str(Path(__file__).resolve().parent),
    )
    out = subprocess.run(
        [str(FAUST), "-A", "faust_noop", "worker", "-l", "warn"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=Path(__file__).resolve().parent,
    )
    for line in (out.stdout + out.stderr).splitlines():
        if "NOOP_RATE" in line:
            return int(line.split("NOOP_RATE")[1].split()[0])
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["core", "agent", "profile"])
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument(
        "--profile-to",
        type=Path,
        default=None,
        help="agent: run the worker under cProfile, stats to this file",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="agent: a worker setting, e.g. ingest__batch_size=2000 (CYBERMESH_<NAME>)",
    )
    parser.add_argument("--no-noop", action="store_true", help="agent: skip the no-op Faust run")
    args = parser.parse_args()
    if args.what == "core":
        print(json.dumps(run_core(args.n or 20_000)))
    elif args.what == "profile":
        run_profile(args.n or 20_000)
    else:
        bootstrap = os.environ.get("CYBERMESH_KAFKA_BOOTSTRAP", "127.0.0.1:39092")
        extra = dict(item.split("=", 1) for item in args.set)
        result = run_agent(args.n or 30_000, bootstrap, args.profile_to, extra)
        if not args.no_noop:
            result["faust_noop_msg_per_s"] = run_noop(args.n or 30_000, bootstrap)
        print(json.dumps(result))


if __name__ == "__main__":
    main()
