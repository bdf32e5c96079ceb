"""Ingest agents: one per ai.* topic, batched; admitted records into the mempool table,
rejected ones to `<topic>.dlq` unchanged with `reject-reason` and `validator-id` headers.

Rules:
1. The Faust codec is raw bytes: every record reaches the admission core, which decodes it
   strictly, so malformed bytes are rejected with a reason and can never crash the agent.
2. Records are processed in batches (`stream.take_events(batch_size, within=...)`), in
   offset order, with one clock reading per batch. Checks 1-9 run first (`precheck`), then
   the batch's Ed25519 verifications (inline, or with `verify_threads` > 0 in threads while
   the loop keeps consuming; libsodium releases the GIL), then checks 10-13 (`finish`) in
   record order: the decisions equal `Admission.admit` on each record in turn.
3. An admitted record goes to the mempool (index + one table write, its replay entry inside
   the record); a batch's table writes are applied together at its end (RocksDB write batches
   and changelog record batches: cybermesh.tables.writer). If the mempool refuses it (full of better txs), it goes to the DLQ with
   reason `mempool_full` (its replay entry is kept in the replay table).
4. A rejected record goes to the DLQ byte for byte, is counted by reason and written to the
   audit log (no payloads or keys).
5. About once a second (driven by batches), expired replay/dedupe entries and mempool entries
   past the age cap are dropped, and queued deletions of committed txs are flushed.
6. An exception in one batch's bookkeeping is logged and counted; the agent keeps going.
7. A record whose tx is already in the committed state (`committed(tx_hash)`, set by the
   validator: e.g. a record this validator reads after the network committed it) is not
   admitted and not verified: it is counted (`cybermesh_ingest_already_committed_total`), not
   sent to the DLQ (it is neither invalid nor lost: it is in the ledger).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import faust
from faust.streams import _current_event

from cybermesh.admission import (
    Admission,
    Admitted,
    Candidate,
    Decision,
    Rejected,
    State,
    verify_candidates,
)
from cybermesh.admission.ratelimit import Bucket
from cybermesh.admission.reasons import Reason
from cybermesh.agents.audit import rejection_line
from cybermesh.agents.ingest_metrics import IngestMetrics
from cybermesh.mempool import Entry
from cybermesh.tables.mempool import MempoolStore, ReplayStore
from cybermesh.wire.topics import AI_TOPICS, dlq_topic

log = logging.getLogger(__name__)
MAINTENANCE_EVERY_MS = 1000
MIN_VERIFY_CHUNK = 32
"""Fewer candidates per thread than this are verified inline (thread hand-off costs more)."""


def wall_clock_ms() -> int:
    """Local wall clock in ms since the epoch (admission compares ts against it)."""
    return time.time_ns() // 1_000_000


class Ingest:
    """The ingest stage of one validator (rules 3-5); agents feed it batches."""

    def __init__(
        self,
        *,
        admission: Admission,
        mempool: MempoolStore,
        replay: ReplayStore,
        dlqs: dict[str, Any],
        validator_id: str,
        metrics: IngestMetrics,
        audit: logging.Logger,
        clock_ms: Callable[[], int] = wall_clock_ms,
        verify_threads: int = 0,
    ) -> None:
        self.admission = admission
        self.mempool = mempool
        self.replay = replay
        self.dlqs = dlqs
        self.validator_id = validator_id
        self.metrics = metrics
        self.audit = audit
        self.clock_ms = clock_ms
        self.buckets: dict[str, Bucket] = {}
        self._next_maintenance = 0
        self._vid = validator_id.encode("utf-8")
        self.verify_threads = verify_threads
        self.committed: Callable[[bytes], bool] | None = None
        """Rule 7: is this tx hash in the committed state? (None: no state in this worker)"""
        self.verify_pool = (
            ThreadPoolExecutor(verify_threads, thread_name_prefix="cybermesh-verify")
            if verify_threads > 0
            else None
        )

    async def process(
        self, topic: str, raws: Sequence[bytes | None], events: Sequence[Any] = ()
    ) -> list[Decision]:
        """Admit one batch from `topic` (a contract name, e.g. ai.anomalies.v1).

        NOTE: `events` are the batch's Faust events (same length as `raws`); each record's table
        writes run with its event as the current event, as Faust's changelog requires.
        """
        started = time.perf_counter()
        now = self.clock_ms()
        if now >= self._next_maintenance:
            if events:
                _set_current_event(events[-1])
            self._maintain(now)
        records = [raw if raw is not None else b"" for raw in raws]
        state = State(replay=self.replay.replay, seen=self.replay.seen, buckets=self.buckets)
        adm = self.admission
        checked = [adm.precheck(topic, raw, now) for raw in records]
        committed = self.committed
        if committed is not None:  # rule 7, before the signature check costs anything
            checked = [
                Rejected(c.topic, Reason.ALREADY_COMMITTED, "tx already committed", c.tx_hash, c.producer_id)
                if isinstance(c, Candidate) and committed(c.tx_hash) else c
                for c in checked
            ]  # fmt: skip
        candidates = [c for c in checked if isinstance(c, Candidate)]
        verified = iter(await self._verify(candidates))
        decisions: list[Decision] = [
            c if isinstance(c, Rejected) else adm.finish(c, next(verified), now, state)
            for c in checked
        ]
        admitted = 0
        per_key = not self.mempool.writer.batched  # Faust's per-key path needs the event
        for i, (raw, decision) in enumerate(zip(records, decisions, strict=True)):
            if isinstance(decision, Admitted):
                partition = 0
                if events:
                    partition = events[i].message.partition
                    if per_key:
                        _set_current_event(events[i])
                if self._insert(decision, now, partition):
                    admitted += 1
                    continue
                await self._reject(
                    topic, raw, "mempool_full", decision.producer_id, decision.tx_hash, now
                )
            elif decision.reason is Reason.ALREADY_COMMITTED:
                self.metrics.already_committed.labels(topic).inc()
            else:
                await self._reject(
                    topic, raw, decision.reason.value, decision.producer_id, decision.tx_hash, now
                )
        await self.mempool.write_tables()
        m = self.metrics
        if admitted:
            m.admitted.labels(topic).inc(admitted)
        m.mempool_txs.set(len(self.mempool.pool))
        m.mempool_bytes.set(self.mempool.pool.total_bytes)
        m.batch_records.observe(len(records))
        m.batch_seconds.observe(time.perf_counter() - started)
        return decisions

    async def _verify(self, candidates: list[Candidate]) -> list[bool]:
        """Signature checks of a batch, split across the verify threads when it pays."""
        n = len(candidates)
        if self.verify_pool is None or n < 2 * MIN_VERIFY_CHUNK:
            return verify_candidates(candidates)
        parts = min(self.verify_threads, n // MIN_VERIFY_CHUNK)
        size = -(-n // parts)
        loop = asyncio.get_running_loop()
        chunks = await asyncio.gather(
            *(
                loop.run_in_executor(self.verify_pool, verify_candidates, candidates[i : i + size])
                for i in range(0, n, size)
            )
        )
        return [ok for chunk in chunks for ok in chunk]

    def _insert(self, d: Admitted, now: int, partition: int) -> bool:
        entry = Entry(d.tx_hash, d.kind, d.raw, d.score, d.ts, now, d.replay_key, d.expires_ms)
        added, _refused, evicted = self.mempool.put(entry, now, partition)
        if evicted:
            self.metrics.evictions.inc(evicted)
        return added

    async def _reject(
        self, topic: str, raw: bytes, reason: str, producer_id: str, tx_hash: bytes, now: int
    ) -> None:
        self.metrics.rejected.labels(topic, reason).inc()
        self.audit.info(rejection_line(self.validator_id, topic, reason, producer_id, tx_hash, now))
        await self.dlqs[topic].send(
            value=raw, headers=[("reject-reason", reason.encode()), ("validator-id", self._vid)]
        )

    def _maintain(self, now: int) -> None:
        self._next_maintenance = now + MAINTENANCE_EVERY_MS
        self.replay.expire(now)
        expired = self.mempool.expire(now)
        if expired:
            self.metrics.expired.inc(expired)
        self.mempool.flush(now)


def register_agents(
    app: faust.App, ingest: Ingest, *, prefix: str, batch_size: int, within_s: float
) -> dict[str, Any]:
    """Declare the DLQ topics and one ingest agent per ai.* topic; returns the agents."""
    agents: dict[str, Any] = {}
    for topic in AI_TOPICS:
        source = app.topic(
            prefix + topic,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )
        agents[topic] = app.agent(source, name=f"ingest-{topic}")(
            _agent_body(ingest, topic, batch_size, within_s)
        )
    return agents


def dlq_topics(app: faust.App, prefix: str) -> dict[str, Any]:
    """The DLQ topic of each ai.* topic (contract name -> Faust topic)."""
    return {
        topic: app.topic(
            prefix + dlq_topic(topic),
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )
        for topic in AI_TOPICS
    }


def _set_current_event(event: Any) -> None:
    """Make `event` Faust's current event (table writes go to its partition's changelog).

    NOTE: Faust couples table writes to the event being processed; a batch from take_events()
    has no single current event, so the adapter sets it per record (faust-streaming 0.15.x).
    """
    _current_event.set(weakref.ref(event))


def _agent_body(ingest: Ingest, topic: str, batch_size: int, within_s: float) -> Any:
    async def ingest_agent(stream: Any) -> None:
        async for events in stream.take_events(batch_size, within=within_s):
            try:
                await ingest.process(topic, [e.value for e in events], events)
            except Exception:  # rule 6: never crash on one batch
                log.exception("ingest: batch of %d records from %s failed", len(events), topic)
                ingest.metrics.rejected.labels(topic, "internal").inc(len(events))

    ingest_agent.__name__ = ingest_agent.__qualname__ = "ingest_" + topic.replace(".", "_")
    return ingest_agent
