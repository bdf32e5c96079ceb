"""Acceptance of the ingest pipeline on the real broker with a real worker subprocess.

One valid record per topic and at least one record per reject reason are produced; only the
valid ones end up in the mempool, each invalid one is in its DLQ with exactly the expected
reason and unchanged bytes, and /metrics counts them. Then the worker is SIGKILLed and
restarted: the mempool holds the same txs.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from pathlib import Path

import pytest

from cybermesh.wire import topics
from tests.admission_kit import anomaly, make_genesis, signed, valid
from tests.ingest_worker import Worker, consume_all, produce

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]

A, E, P = topics.ANOMALIES, topics.EVIDENCE, topics.POLICY
BURST = 5
SKEW = 60_000


def genesis():  # type: ignore[no-untyped-def]
    return make_genesis(
        [
            ("det-1", 1, [A]),
            ("ana-1", 2, [E]),
            ("pol-1", 3, [P]),
            ("burst-1", 5, [A]),
        ]
    )


def cases(now: int) -> tuple[list[tuple[str, bytes]], list[bytes], dict[bytes, str], list[bytes]]:
    """The records to produce in order, the valid ones, the expected reason of each invalid
    one (the duplicate is the first valid record again), and the burst."""
    first = valid(A, nonce=1, ts=now)
    bad_sig = anomaly(nonce=2, ts=now)
    signed(A, bad_sig)
    bad_sig.signature = bytes(64)
    invalid: list[tuple[str, bytes, str]] = [
        (A, first, "duplicate"),  # the same bytes again, after `first`
        (A, valid(A, nonce=1, ts=now, severity=2), "replay"),
        (A, bad_sig.SerializeToString(deterministic=True), "bad_signature"),
        (A, signed(A, anomaly(nonce=3, ts=now), key_number=2), "key_mismatch"),
        (A, signed(A, anomaly(nonce=4, ts=now, producer_id="ghost")), "unknown_producer"),
        (A, signed(A, anomaly(nonce=5, ts=now, producer_id="ana-1")), "producer_not_allowed"),
        (A, valid(A, nonce=6, ts=now - SKEW - 30_000), "stale"),
        (A, valid(A, nonce=7, ts=now + SKEW + 30_000), "future"),
        (A, valid(A, nonce=8, ts=now, payload=b"x" * 2000), "oversize"),
        (A, b"\xff\xff\xff\xff", "undecodable"),
        (A, valid(A, nonce=9, ts=now) + b"\xf8\x07\x01", "unknown_fields"),
        (A, valid(A, nonce=10, ts=now, schema_version=2), "unsupported_version"),
        (A, valid(A, nonce=11, ts=now, payload_hash=bytes(32)), "bad_payload_hash"),
        (E, b"\x08", "undecodable"),
        (P, valid(P, nonce=2, ts=now, action=0), "bad_schema"),
    ]
    good = [(A, first), (E, valid(E, nonce=1, ts=now)), (P, valid(P, nonce=1, ts=now))]
    records = good + [(t, raw) for t, raw, _ in invalid]
    expected = {raw: reason for _, raw, reason in invalid}
    burst = [signed(A, anomaly(nonce=100 + i, ts=now, producer_id="burst-1")) for i in range(8)]
    records += [(A, raw) for raw in burst]
    return records, [raw for _, raw in good], expected, burst


def metric(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith((name + "{", name + " ")) and all(
            f'{k}="{v}"' in line for k, v in labels.items()
        ):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_admission_on_the_real_broker_and_restart(
    ingest_bootstrap: str, tmp_path: Path
) -> None:
    worker = Worker(
        ingest_bootstrap,
        genesis(),
        tmp_path,
        admission__rate_per_s=1,
        admission__burst=BURST,
        admission__max_bytes_anomaly=1024,
        admission__skew_ms=SKEW,
    )
    await worker.create_topics()
    worker.start()
    with worker.kept_on_failure():
        await worker.wait_ready()
        now = int(time.time() * 1000)
        records, good, expected, burst = cases(now)
        await produce(ingest_bootstrap, [(worker.topic(t), raw) for t, raw in records])

        dlq: list[tuple[bytes, dict[str, bytes]]] = []
        n_invalid = {
            t: sum(1 for tt, raw in records[len(good) :] if tt == t and raw in expected)
            for t in topics.AI_TOPICS
        }
        n_invalid[A] += 1  # at least one rate-limited burst record
        for t in topics.AI_TOPICS:
            dlq += await consume_all(
                ingest_bootstrap, worker.topic(topics.dlq_topic(t)), n_invalid[t]
            )
        got = {raw: h["reject-reason"].decode() for raw, h in dlq}
        assert all(h["validator-id"] == worker.tag.encode() for _, h in dlq)
        # every invalid record is in the DLQ, unchanged, with exactly its reason
        assert {raw: got.get(raw) for raw in expected} == expected
        limited = [raw for raw, reason in got.items() if reason == "rate_limited"]
        assert limited and set(limited) <= set(burst)
        assert set(got) == set(expected) | set(limited)
        assert len(burst) - len(limited) >= BURST  # the bucket's burst went through first

        valid_raws = good + [raw for raw in burst if raw not in limited]
        state = await worker.wait_count(len(valid_raws))
        want = sorted(hashlib.sha256(raw).hexdigest() for raw in valid_raws)
        assert sorted(tx["tx_hash"] for tx in state["txs"]) == want

        text = worker.metrics()
        counts = Counter(got.values())
        for reason, n in counts.items():
            total = sum(
                metric(text, "cybermesh_rejected_total", topic=t, reason=reason)
                for t in topics.AI_TOPICS
            )
            assert total == n, reason
        admitted = sum(metric(text, "cybermesh_admitted_total", topic=t) for t in topics.AI_TOPICS)
        assert admitted == len(valid_raws)
        assert metric(text, "cybermesh_mempool_txs") == len(valid_raws)

        audit = [
            json.loads(line)
            for line in (tmp_path / "data" / "audit.jsonl").read_text().splitlines()
        ]
        assert len(audit) == len(dlq)
        assert {tuple(sorted(a)) for a in audit} == {
            ("event", "producer", "reason", "topic", "ts", "tx_hash", "validator")
        }  # never payloads, signatures or keys
        assert sorted(a["tx_hash"] for a in audit) == sorted(
            hashlib.sha256(raw).hexdigest() for raw, _ in dlq
        )

        # Kill -9 after admission (and its offset commit), restart: the mempool holds the same
        # txs. (Records after the last commit are processed again: at-least-once, see
        # docs/ADMISSION.md.)
        await worker.wait_committed()
        worker.kill()
        worker.start()
        state = await worker.wait_ready()
        assert sorted(tx["tx_hash"] for tx in state["txs"]) == want
        # and the replay cache survived too: the duplicate is still refused
        await produce(ingest_bootstrap, [(worker.topic(A), records[0][1])])
        more = await consume_all(
            ingest_bootstrap, worker.topic(topics.dlq_topic(A)), n_invalid[A] - 1 + len(limited) + 1
        )
        assert [h["reject-reason"] for raw, h in more].count(b"duplicate") == 2
