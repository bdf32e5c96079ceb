"""Read API under load: requests/s and latency p50/p99 of the hot endpoints while the
validators keep committing a signed load.

    .venv/bin/python bench/api.py [--validators 4] [--rate 200] [--seconds 10] [--concurrency 16]
        [--dir .local/bench-api] [--bootstrap HOST:PORT] [--base-port 47200] [--keep]
    .venv/bin/python bench/api.py --url http://127.0.0.1:PORT      (a node that is already up)

1. `cybermesh localnet up` (unless --url), then a background `cybermesh produce` at --rate
   (the localnet's producer key, cybermesh.loadgen mix) for the whole run, so blocks with
   transactions keep committing.
2. For each endpoint in turn, a **separate process** (the load generator: asyncio + one
   aiohttp ClientSession with --concurrency connections, keep-alive; wrk is not installed here)
   sends GET requests back to back from --concurrency tasks for --seconds; each task records
   the latency of every answer. Paths vary per request: `blocks/{h}` picks a random committed
   height, `state/keys/{k}` a random known entity's reputation key (an inclusion proof).
3. The validator's committed height is read before and after each endpoint's run:
   `commits_per_s` shows the node kept committing while it served; `baseline_commits_per_s`
   is the same rate over --seconds without API load, measured first.

Access control (docs/AUTH.md): on a localnet each load task gets its own operator token
(subject `bench-<i>`: the per-client limits apply per task, as for many clients); with --url
pass --token (one client: that validator's api.rate_per_s and api.max_inflight_per_client cap
the run; the non-200 count shows 429s).

Prints one JSON object: per endpoint requests/s, p50/p90/p99/max in ms, non-200 count,
commits/s during the run; the machine and the command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
ENDPOINTS = ("blocks/latest", "blocks/{height}", "state/keys/{key}", "entities", "mempool")


def percentile(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return 0.0
    i = min(len(sorted_ms) - 1, max(0, round(q * (len(sorted_ms) - 1))))
    return round(sorted_ms[i], 3)


# --- the load generator (runs in its own process) ---------------------------------------------


async def _load(base: str, paths: list[str], seconds: float, concurrency: int, seed: int,
                tokens: list[str]) -> dict[str, Any]:  # fmt: skip
    import aiohttp

    rng = random.Random(seed)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    deadline = time.perf_counter() + seconds
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as session:

        async def worker(i: int) -> None:
            headers = {"Authorization": f"Bearer {tokens[i % len(tokens)]}"} if tokens else {}
            while time.perf_counter() < deadline:
                path = paths[rng.randrange(len(paths))]
                t0 = time.perf_counter()
                async with session.get(base + path, headers=headers) as r:
                    await r.read()
                    statuses[r.status] = statuses.get(r.status, 0) + 1
                latencies.append((time.perf_counter() - t0) * 1000)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - t0
    latencies.sort()
    return {
        "requests": len(latencies),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": percentile(latencies, 0.50),
        "p90_ms": percentile(latencies, 0.90),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": round(latencies[-1], 3) if latencies else 0.0,
        "non_200": sum(n for s, n in statuses.items() if s != 200),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


def load_process(base: str, paths: list[str], seconds: float, concurrency: int, seed: int,
                 tokens: list[str]) -> dict[str, Any]:  # fmt: skip
    """Entry point of the load-generator process."""
    return asyncio.run(_load(base, paths, seconds, concurrency, seed, tokens))


# --- orchestration ----------------------------------------------------------------------------


TOKENS: list[str] = []
"""Bearer tokens of the load tasks; TOKENS[0] also reads the setup answers."""


def get_json(url: str) -> Any:
    request = urllib.request.Request(url)
    if TOKENS:
        request.add_header("Authorization", f"Bearer {TOKENS[0]}")
    with urllib.request.urlopen(request, timeout=10) as r:
        return json.loads(r.read())


def cli(*args: str, limit_s: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "cybermesh", *args], capture_output=True, text=True,
                          timeout=limit_s, env=env, cwd=ROOT, check=False)  # fmt: skip


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "load_avg_1m": round(os.getloadavg()[0], 2)}  # fmt: skip


def paths_for(api: str, endpoint: str, rng: random.Random) -> list[str]:
    from cybermesh.state.records import reputation_key

    if endpoint == "blocks/{height}":
        top = get_json(api + "/blocks/latest")["height"]
        return [f"/blocks/{rng.randint(1, top)}" for _ in range(1000)]
    if endpoint == "state/keys/{key}":
        ents = get_json(api + "/entities?limit=100")["items"]
        keys = [reputation_key(e["entity_id"]).hex() for e in ents] or [b"meta/tip".hex()]
        return [f"/state/keys/{k}" for k in keys]
    if endpoint == "entities":
        return ["/entities?limit=20", "/entities?limit=20&quarantined=true"]
    if endpoint == "mempool":
        return ["/mempool?limit=20"]
    return ["/" + endpoint]


def run(api: str, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    out: dict[str, Any] = {}
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        pool.submit(load_process, api, ["/health"], 0.2, 1, 0, []).result()  # warm the process up
        h0, t0 = get_json(api + "/blocks/latest")["height"], time.monotonic()
        time.sleep(args.seconds)  # the commit rate without API load, for comparison
        h1, t1 = get_json(api + "/blocks/latest")["height"], time.monotonic()
        out["baseline_commits_per_s"] = round((h1 - h0) / (t1 - t0), 1)
        for endpoint in ENDPOINTS:
            paths = paths_for(api, endpoint, rng)
            h0, t0 = get_json(api + "/blocks/latest")["height"], time.monotonic()
            result = pool.submit(load_process, api, paths, args.seconds, args.concurrency, args.seed,
                                 TOKENS).result()  # fmt: skip
            h1, t1 = get_json(api + "/blocks/latest")["height"], time.monotonic()
            result["commits_per_s"] = round((h1 - h0) / (t1 - t0), 1)
            out[endpoint] = result
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", help="base URL of a running validator's web server (skip the localnet)")
    p.add_argument("--validators", type=int, default=4)
    p.add_argument("--rate", type=int, default=200, help="signed events/s produced during the run")
    p.add_argument("--seconds", type=float, default=10.0, help="load per endpoint")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--dir", type=Path, default=ROOT / ".local" / "bench-api")
    p.add_argument("--bootstrap")
    p.add_argument("--base-port", type=int, default=47200)
    p.add_argument("--keep", action="store_true")
    p.add_argument("--token", help="bearer token for --url (docs/AUTH.md)")
    args = p.parse_args(argv)
    producer = None
    result: dict[str, Any] = {"load_generator": "bench/api.py load_process: a separate Python process, "
                              "asyncio + aiohttp ClientSession, keep-alive"}  # fmt: skip
    if args.url:
        TOKENS[:] = [args.token] if args.token else []
        api = args.url.rstrip("/") + "/api/v1"
        result.update(run(api, args))
    else:
        from cybermesh.localnet import Plan

        tag = f"benchapi{random.Random().randrange(16**6):06x}"  # fresh topics and consumer groups per run

        up_args = ["localnet", "up", "--validators", str(args.validators), "--dir", str(args.dir),
                   "--base-port", str(args.base_port), "--topic-prefix", f"{tag}-", "--id-prefix", f"{tag}-v"]  # fmt: skip
        if args.bootstrap:
            up_args += ["--bootstrap", args.bootstrap]
        up = cli(*up_args)
        if up.returncode != 0:
            raise SystemExit(f"bench: localnet up failed: {up.stderr[-3000:]}")
        try:
            plan = Plan.load(args.dir)
            from cybermesh.localnet import issue_token

            TOKENS[:] = [issue_token(plan.dir, ttl_s=3600, subject=f"bench-{i}") for i in range(args.concurrency)]
            api = f"http://127.0.0.1:{plan.members[0].web_port}/api/v1"
            maps = [a for t in ("ai.anomalies.v1", "ai.evidence.v1", "ai.policy.v1")
                    for a in ("--topic-map", f"{t}={plan.topic_prefix}{t}")]  # fmt: skip
            duration = args.seconds * len(ENDPOINTS) + 30
            producer = subprocess.Popen(
                [sys.executable, "-m", "cybermesh", "produce", "--key", plan.producer_key, "--producer-id",
                 plan.producer_id, "--genesis", plan.genesis, "--bootstrap", plan.bootstrap, "--rate",
                 str(args.rate), "--count", str(int(args.rate * duration)), "--quiet", *maps],
                env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT, stdout=subprocess.DEVNULL)  # fmt: skip
            time.sleep(5)  # let the load reach blocks
            result.update(run(api, args))
            result["validators"] = args.validators
            result["produce_rate_per_s"] = args.rate
        finally:
            if producer is not None:
                producer.terminate()
                producer.wait(timeout=30)
            if not args.keep:
                cli("localnet", "down", "--dir", str(args.dir), "--purge")
    result["seconds_per_endpoint"] = args.seconds
    result["concurrency"] = args.concurrency
    result["machine"] = machine()
    result["command"] = "bench/api.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
