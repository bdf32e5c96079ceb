"""Read back what `scripts/demo` published and verify it (the consumer half of the demo).

demo_verify.py mark  BOOTSTRAP FILE TOPIC...        record each partition's end offset
demo_verify.py check BOOTSTRAP FILE --pubkey HEX --expect N
      read every record published after the marks; each must decode strictly as its topic's
      message, carry our producer key, and verify (Ed25519 over signing_bytes; for anomalies
      also payload_hash = SHA-256(payload)). Exit 0 only if exactly N records all verify.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from cybermesh.wire.signing import payload_hash, tx_hash, verify
from cybermesh.wire.strict import DecodeError, decode_strict
from cybermesh.wire.topics import ANOMALIES, MESSAGE_TYPES


async def end_offsets(bootstrap: str, topics: list[str]) -> dict[str, dict[int, int]]:
    """{topic: {partition: end offset}} for every partition of `topics` (which must exist)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    tps = [
        TopicPartition(d["topic"], p["partition"])
        for d in described
        for p in d.get("partitions", [])
    ]
    missing = set(topics) - {tp.topic for tp in tps}
    if missing:
        raise SystemExit(f"demo_verify: no partitions for {sorted(missing)} (do they exist?)")
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    out: dict[str, dict[int, int]] = {t: {} for t in topics}
    for tp, offset in ends.items():
        out[tp.topic][tp.partition] = offset
    return out


def check_one(topic: str, value: bytes, pubkey: bytes) -> str | None:
    """None if the record verifies, else the reason it does not."""
    try:
        msg: Any = decode_strict(MESSAGE_TYPES[topic], value)
    except DecodeError as exc:
        return f"decode: {exc}"
    if msg.pubkey != pubkey:
        return "not our producer key"
    if not verify(topic, msg):
        return "bad signature"
    if topic == ANOMALIES and msg.payload_hash != payload_hash(msg.payload):
        return "payload_hash mismatch"
    return None


async def check(
    bootstrap: str, marks: dict[str, dict[str, int]], pubkey: bytes, expect: int
) -> int:
    starts = {
        TopicPartition(t, int(p)): off for t, parts in marks.items() for p, off in parts.items()
    }
    ends = await end_offsets(bootstrap, sorted(marks))
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    ok: Counter[str] = Counter()
    bad: Counter[str] = Counter()
    sample = ""
    try:
        tps = [TopicPartition(t, p) for t, parts in ends.items() for p in parts]
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, starts.get(tp, 0))
        remaining = {tp: ends[tp.topic][tp.partition] for tp in tps}

        async def unfinished() -> bool:
            for tp, end in remaining.items():
                if await consumer.position(tp) < end:
                    return True
            return False

        while await unfinished():
            batches = await consumer.getmany(timeout_ms=1000)
            for tp, records in batches.items():
                for r in records:
                    if r.offset >= remaining[tp] or r.value is None:
                        continue
                    reason = check_one(tp.topic, r.value, pubkey)
                    if reason is None:
                        ok[tp.topic] += 1
                        sample = sample or f"{tp.topic}@{r.offset} tx_hash={tx_hash(r.value).hex()}"
                    else:
                        bad[f"{tp.topic}: {reason}"] += 1
    finally:
        await consumer.stop()
    total = sum(ok.values())
    for topic in sorted(marks):
        print(f"  {topic:<18} {ok[topic]:>6} verified")
    for reason, n in sorted(bad.items()):
        print(f"  REJECTED {n} x {reason}")
    if sample:
        print(f"  e.g. {sample}")
    if bad or total != expect:
        print(f"demo: FAILED: {total} verified, {sum(bad.values())} rejected, {expect} expected")
        return 1
    print(f"demo: {total}/{expect} events read back from Kafka; every signature verifies")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="demo_verify")
    sub = parser.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("mark")
    m.add_argument("bootstrap")
    m.add_argument("file")
    m.add_argument("topics", nargs="+")
    c = sub.add_parser("check")
    c.add_argument("bootstrap")
    c.add_argument("file")
    c.add_argument("--pubkey", required=True)
    c.add_argument("--expect", type=int, required=True)
    args = parser.parse_args(argv)
    if args.cmd == "mark":
        marks = asyncio.run(end_offsets(args.bootstrap, args.topics))
        with open(args.file, "w", encoding="utf-8") as f:
            json.dump(marks, f)
        return 0
    with open(args.file, encoding="utf-8") as f:
        marks = json.load(f)
    return asyncio.run(check(args.bootstrap, marks, bytes.fromhex(args.pubkey), args.expect))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
