"""End to end: committed tx/s and produce -> commit latency of a 4-validator localnet.

    .venv/bin/python bench/e2e.py [--validators 4] [--rate 2000] [--duration 30] [--settle 30]
        [--dir .local/bench-e2e] [--bootstrap HOST:PORT] [--keep]
    .venv/bin/python bench/e2e.py --ledger-only --bootstrap B --topic T --produced FILE
        (measure an existing ledger topic against {tx_hash_hex: produce_ms} in FILE)

1. `cybermesh localnet up` (broker via scripts/kafka unless --bootstrap), then the end offsets
   of ledger.blocks.v1 are noted: only blocks committed after this point count.
2. A signed load (the localnet's producer key, cybermesh.loadgen) at --rate for --duration;
   each tx hash is stamped with the wall-clock ms at which it was handed to the producer.
3. Meanwhile ledger.blocks.v1 is read (no consumer group): records deduplicated by height
   (a duplicate with different bytes is counted in `integrity_mismatches`), each block's
   commit time = Kafka timestamp of its first record, each tx matched by SHA-256(raw).
4. After the load, reading goes on until every produced tx is matched or no block arrives for
   --settle seconds (NOTE: a network that commits empty blocks keeps "arriving": the wait ends
   when all txs are matched or after --settle seconds without a block carrying a produced tx).
   Then `localnet down --purge` (--keep leaves it up).

Prints one JSON object: committed tx/s (matched txs / (last commit - first produce)),
latency p50/p90/p99/max in ms, blocks, unmatched count, the machine and the command.
Until the workers publish committed blocks to ledger.blocks.v1, `committed` is 0 and the
result says so (`"ledger_blocks": 0`).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import random
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiokafka import AIOKafkaConsumer, TopicPartition

from cybermesh.proto.v1 import block_pb2

ROOT = Path(__file__).resolve().parents[1]


# --- measurement (pure) ----------------------------------------------------------------------


@dataclass
class LedgerTally:
    """Ledger records in (any order, duplicates), one commit per height out."""

    digests: dict[int, bytes] = field(default_factory=dict)
    commits: dict[int, tuple[int, list[bytes]]] = field(default_factory=dict)
    """height -> (commit ms, tx hashes)."""
    records: int = 0
    mismatches: int = 0
    undecodable: int = 0

    def feed(self, value: bytes, ts_ms: int) -> int:
        """Take one record; return the tx count of a newly seen height (0 otherwise)."""
        self.records += 1
        try:
            cb = block_pb2.CommittedBlock.FromString(value)
        except Exception:  # noqa: BLE001 - any garbage counts as undecodable
            self.undecodable += 1
            return 0
        height = cb.block.header.height
        digest = hashlib.sha256(value).digest()
        seen = self.digests.get(height)
        if seen is not None:
            if seen != digest:
                self.mismatches += 1
            return 0
        self.digests[height] = digest
        self.commits[height] = (ts_ms, [hashlib.sha256(tx.raw).digest() for tx in cb.block.txs])
        return len(cb.block.txs)


def percentile(sorted_values: list[int], p: float) -> int | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * p // 100))
    return sorted_values[int(rank) - 1]


def measure(produced: Mapping[bytes, int], tally: LedgerTally) -> dict[str, Any]:
    """Match committed txs to their produce time (module docstring, step 3)."""
    latencies: list[int] = []
    first_commit = last_commit = None
    seen: set[bytes] = set()
    for height in sorted(tally.commits):
        ts, hashes = tally.commits[height]
        for h in hashes:
            sent = produced.get(h)
            if sent is None or h in seen:
                continue
            seen.add(h)
            latencies.append(ts - sent)
            first_commit = ts if first_commit is None else min(first_commit, ts)
            last_commit = ts if last_commit is None else max(last_commit, ts)
    latencies.sort()
    first_produce = min(produced.values()) if produced else None
    span_ms = (last_commit - first_produce) if (last_commit is not None and first_produce is not None) else None
    return {
        "produced": len(produced),
        "committed": len(latencies),
        "unmatched": len(produced) - len(latencies),
        "ledger_blocks": len(tally.commits),
        "ledger_records": tally.records,
        "integrity_mismatches": tally.mismatches,
        "undecodable_records": tally.undecodable,
        "committed_tx_per_s": round(len(latencies) * 1000 / span_ms, 1) if span_ms else None,
        "latency_ms": {
            "p50": percentile(latencies, 50),
            "p90": percentile(latencies, 90),
            "p99": percentile(latencies, 99),
            "max": latencies[-1] if latencies else None,
        },
    }


# --- Kafka ---------------------------------------------------------------------------------


class LedgerWatcher:
    """Reads a ledger topic from given offsets into a LedgerTally until stopped."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.tally = LedgerTally()
        self.last_block_at = time.monotonic()
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, from_end: bool = True) -> None:
        c = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest")  # fmt: skip
        await c.start()
        metadata = await c._client.fetch_all_metadata()
        tps = [TopicPartition(self.topic, p) for p in sorted(metadata.partitions_for_topic(self.topic) or ())]
        if not tps:
            await c.stop()
            raise RuntimeError(f"topic {self.topic} does not exist on {self.bootstrap}")
        c.assign(tps)
        if from_end:
            await c.seek_to_end(*tps)
            for tp in tps:
                await c.position(tp)  # resolve now, before the load starts
        else:
            await c.seek_to_beginning(*tps)
        self._consumer = c
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            got = await self._consumer.getmany(timeout_ms=500, max_records=5_000)
            for msgs in got.values():
                for m in msgs:
                    if m.value is not None and self.tally.feed(m.value, m.timestamp):  # new, has txs
                        self.last_block_at = time.monotonic()

    async def wait(self, produced: Mapping[bytes, int], settle_s: float) -> None:
        """Until every produced tx is committed or no block with txs for `settle_s` seconds."""
        self.last_block_at = max(self.last_block_at, time.monotonic())
        while time.monotonic() - self.last_block_at < settle_s:
            committed = {h for _, hs in self.tally.commits.values() for h in hs}
            if all(h in committed for h in produced):
                return
            await asyncio.sleep(0.5)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()


async def produce_load(plan: Any, rate: int, duration: float, seed: int) -> dict[bytes, int]:
    from cybermesh.genesis_io import load_genesis
    from cybermesh.keys import load_signing_key
    from cybermesh.loadgen import LoadGenerator
    from cybermesh.producer import Publisher, Signer, check_registration
    from cybermesh.wire.topics import AI_TOPICS

    key = load_signing_key(plan.producer_key)
    reg = check_registration(load_genesis(plan.genesis), plan.producer_id, bytes(key.verify_key))
    signer = Signer(key, plan.producer_id, registration=reg)
    gen = LoadGenerator(random.Random(seed), list(AI_TOPICS), f"bench{seed}")
    produced: dict[bytes, int] = {}
    pending: list[asyncio.Future[Any]] = []
    loop = asyncio.get_running_loop()
    async with Publisher(plan.bootstrap, topic_map={t: plan.topic_prefix + t for t in AI_TOPICS}) as pub:
        start = loop.time()
        i = 0
        while loop.time() - start < duration:
            delay = start + i / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            record = signer.build(*gen.next())
            produced[record.tx_hash] = time.time_ns() // 1_000_000
            pending.append(await pub.send(record))
            if len(pending) >= 1_000:
                await asyncio.gather(*pending)
                pending.clear()
            i += 1
        await pub.flush()
        await asyncio.gather(*pending)
    return produced


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "cybermesh", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, check=False)  # fmt: skip


def localnet_up(args: argparse.Namespace) -> Any:
    from cybermesh.localnet import Plan

    up_args = ["localnet", "up", "--validators", str(args.validators), "--dir", str(args.dir), "--json"]
    if args.bootstrap:
        up_args += ["--bootstrap", args.bootstrap]
    up_args += ["--topic-prefix", args.topic_prefix, "--id-prefix", args.id_prefix]
    up = cli(*up_args)
    if up.returncode != 0:
        raise SystemExit(f"bench: localnet up failed: {up.stderr[-3000:]}")
    return Plan.load(args.dir)


async def run_localnet(args: argparse.Namespace, plan: Any) -> dict[str, Any]:
    from cybermesh.wire.topics import LEDGER_BLOCKS

    watcher = LedgerWatcher(plan.bootstrap, plan.topic_prefix + LEDGER_BLOCKS)
    await watcher.start(from_end=True)
    t0 = time.monotonic()
    try:
        produced = await produce_load(plan, args.rate, args.duration, args.seed)
        load_s = time.monotonic() - t0
        await watcher.wait(produced, args.settle)
    finally:
        await watcher.stop()
    result = measure(produced, watcher.tally)
    result["load_s"] = round(load_s, 2)
    result["offered_rate_per_s"] = args.rate
    result["validators"] = args.validators
    return result


async def run_ledger_only(args: argparse.Namespace, produced: Mapping[bytes, int]) -> dict[str, Any]:
    watcher = LedgerWatcher(args.bootstrap, args.topic)
    await watcher.start(from_end=False)
    try:
        await watcher.wait(produced, args.settle)
    finally:
        await watcher.stop()
    return measure(produced, watcher.tally)


def machine() -> dict[str, Any]:
    return {"python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count()}  # fmt: skip


def main(argv: Iterable[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--validators", type=int, default=4)
    p.add_argument("--rate", type=int, default=2000)
    p.add_argument("--duration", type=float, default=30.0)
    p.add_argument("--settle", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--dir", type=Path, default=ROOT / ".local" / "bench-e2e")
    p.add_argument("--bootstrap")
    p.add_argument("--keep", action="store_true", help="leave the localnet up (default: down --purge)")
    p.add_argument("--topic-prefix", default="", help="localnet topic prefix (isolation on a shared broker)")
    p.add_argument("--id-prefix", default="v", help="localnet validator id prefix")
    p.add_argument("--ledger-only", action="store_true")
    p.add_argument("--topic")
    p.add_argument("--produced")
    args = p.parse_args(list(argv) if argv is not None else None)
    if args.ledger_only:
        if not (args.bootstrap and args.topic and args.produced):
            p.error("--ledger-only needs --bootstrap, --topic and --produced")
        raw = json.loads(Path(args.produced).read_text())
        result = asyncio.run(run_ledger_only(args, {bytes.fromhex(k): int(v) for k, v in raw.items()}))
    else:
        plan = localnet_up(args)
        try:
            result = asyncio.run(run_localnet(args, plan))
        finally:
            if not args.keep:
                cli("localnet", "down", "--dir", str(args.dir), "--purge")
    result["machine"] = machine()
    result["command"] = "bench/e2e.py " + " ".join(sys.argv[1:] if argv is None else list(argv))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
