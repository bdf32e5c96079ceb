"""The commit path of a validator: execute, persist, emit, project (adapters).

`CommitPipeline.on_commit` is the ConsensusDriver's `on_commit` (awaited in order, before the
next consensus input). For each committed block, in height order:

1. **Skip** heights already in the local ledger (idempotent: sync or a restart may hand a
   block again).
2. **Execute** with `NodePayload.execute_committed`: shape, the lagged hint against this
   node's own root (a mismatch on a certified block = divergence), then the cached speculative
   execution. Divergence or an invalid certified block raises `DivergenceError` after a
   CRITICAL log, an audit line and `cybermesh_divergence_total`: the driver fails, the P2P
   service crashes the worker, and nothing further is committed (halt with an alarm).
3. **Ledger**: the CommittedBlock and its outputs (events, receipts, changes) in one RocksDB
   batch (`LedgerStore.append`) — written *before* the state, so a crash between the two is
   repaired at start by `recover()` (re-executes ledger heights above the state height).
4. **State**: `StateMachine.commit` (one atomic RocksDB batch), snapshots/pruning.
5. Drop the committed txs from the mempool, forget cached executions, audit line, metrics,
   and wake the `Emitter` and the projector (neither blocks consensus).

Delivery (per validator): at-least-once to Kafka; exactly-once per key after consumers
dedupe by (height) for ledger.blocks.v1 / control.commits.v1 and (height, index) for the other
control.* topics. The `Emitter` publishes heights > the tracking record `emitted` (in the
ledger store), waits for every acknowledgement, then advances the record; after a crash it
re-publishes from there (its duplicates carry the same key and bytes). Other validators' copies
differ in control.commits.v1's `validator_id`, and may differ in a ledger record's certificates
(never its block: docs/LEDGER.md, rule 2).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import mode
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from cybermesh.block.hashing import block_hash
from cybermesh.block.validation import BlockShapeError
from cybermesh.config import KafkaSettings
from cybermesh.ledger.project import block_record
from cybermesh.node.outputs import (
    BlockOutputs,
    decode_outputs,
    encode_outputs,
    records,
)
from cybermesh.node.payload import NodePayload
from cybermesh.proto.v1 import block_pb2
from cybermesh.state.executor import InvalidBlockError
from cybermesh.storage import records as proj
from cybermesh.stores.ledger import LedgerStore
from cybermesh.wire import topics
from cybermesh.wire.strict import encode

log = logging.getLogger(__name__)


class DivergenceError(RuntimeError):
    """A certified block this node cannot apply: its state diverged (or a quorum is faulty)."""

    def __init__(self, height: int, reason: str, detail: str) -> None:
        super().__init__(f"height {height}: {reason}: {detail}")
        self.height = height
        self.reason = reason


class NodeMetrics:
    """Prometheus metrics of consensus and the commit path (docs/CONSENSUS.md §10)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.height = Gauge("cybermesh_height", "last committed (executed) height", registry=registry)
        self.round = Gauge("cybermesh_round", "current consensus round", registry=registry)
        self.commits = Counter("cybermesh_commits_total", "blocks committed", registry=registry)
        self.txs = Counter("cybermesh_committed_txs_total", "transactions committed", registry=registry)
        self.exec_seconds = Histogram("cybermesh_execution_seconds", "execution + state commit per block",
                                      registry=registry)
        self.commit_latency = Histogram(
            "cybermesh_commit_latency_seconds", "block timestamp (proposal) to local commit",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30), registry=registry)
        self.emitted = Gauge("cybermesh_emitted_height", "last height whose Kafka records are acked",
                             registry=registry)
        self.emit_lag = Gauge("cybermesh_emit_lag_blocks", "committed height - emitted height", registry=registry)
        self.emit_errors = Counter("cybermesh_emit_errors_total", "failed publish attempts", registry=registry)
        self.divergence = Counter("cybermesh_divergence_total", "halts on a state divergence", registry=registry)
        self.rejected = Gauge("cybermesh_payload_rejected", "proposals refused by block validity, by reason",
                              ["reason"], registry=registry)


class CommitPipeline:
    """Steps 1-5 of the module docstring."""

    def __init__(
        self,
        payload: NodePayload,
        ledger: LedgerStore,
        *,
        after_commit: Callable[[int], None] = lambda _h: None,
        remove_txs: Callable[[Iterable[bytes]], Any] = lambda _t: None,
        metrics: NodeMetrics | None = None,
        audit: logging.Logger | None = None,
        validator_id: str = "",
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.payload = payload
        self.machine = payload.machine
        self.ledger = ledger
        self.after_commit = after_commit
        self.remove_txs = remove_txs
        self.metrics = metrics
        self.audit = audit
        self.validator_id = validator_id
        self.clock_ms = clock_ms
        self.listeners: list[Callable[[int], None]] = []

    def recover(self) -> int:
        """Re-execute ledger heights above the state height (crash between steps 3 and 4)."""
        done = 0
        while self.machine.height < self.ledger.top:
            committed = self.ledger.block(self.machine.height + 1)
            assert committed is not None, f"ledger lacks height {self.machine.height + 1}"
            execution = self.machine.execute(committed.block)
            self.machine.commit(committed.block, execution)
            self.after_commit(execution.height)
            done += 1
        return done

    def on_commit(self, commits: Sequence[block_pb2.CommittedBlock]) -> None:
        for committed in commits:
            self.commit_one(committed)

    def commit_one(self, committed: block_pb2.CommittedBlock) -> None:
        block = committed.block
        h = block.header.height
        if h <= self.ledger.top:
            return  # step 1
        started = time.perf_counter()
        try:
            execution = self.payload.execute_committed(block)
        except (BlockShapeError, InvalidBlockError) as exc:
            self._alarm(h, exc.reason, exc.detail)
            raise DivergenceError(h, exc.reason, exc.detail) from exc
        self.ledger.append(h, encode(committed), encode_outputs(BlockOutputs.of(execution)))
        root = self.machine.commit(block, execution)
        self.after_commit(h)
        self.payload.forget_upto(h)
        self.remove_txs([r.tx_hash for r in execution.receipts])
        if self.metrics is not None:
            m = self.metrics
            m.exec_seconds.observe(time.perf_counter() - started)
            m.commit_latency.observe(max(0, self.clock_ms() - block.header.timestamp) / 1000)
            m.height.set(h)
            m.commits.inc()
            m.txs.inc(len(block.txs))
            for reason, count in sorted(self.payload.rejections.items()):
                m.rejected.labels(reason).set(count)
        self._audit({"event": "commit", "height": h, "hash": execution.block_hash.hex(),
                     "state_root": root.hex(), "tx_count": len(block.txs),
                     "round": block.header.round, "proposer": block.header.proposer})
        for ev in execution.events:
            if ev.topic == topics.CONTROL_EVIDENCE:
                msg: Any = ev.message
                self._audit({"event": "evidence_decision", "height": h, "evidence_id": msg.evidence_id[:128],
                             "status": msg.status, "action": msg.action})
        for listener in self.listeners:
            listener(h)

    def _audit(self, line: dict[str, Any]) -> None:
        """One JSON audit line (ids, hashes, counts; never payloads or keys)."""
        if self.audit is not None:
            line["validator"] = self.validator_id
            self.audit.info(json.dumps(line, sort_keys=True, ensure_ascii=True))

    def _alarm(self, height: int, reason: str, detail: str) -> None:
        if self.metrics is not None:
            self.metrics.divergence.inc()
        self._audit({"event": "divergence", "height": height, "reason": reason})
        log.critical("state divergence at height %d (%s): %s; halting", height, reason, detail)

    # ------------------------------------------------------------ projection source
    def projection_record(self, height: int) -> proj.BlockRecord | None:
        """The SQL projection record of a committed height (None if not committed yet)."""
        if height > self.machine.height:
            return None
        committed = self.ledger.block(height)
        raw = self.ledger.outputs(height)
        if committed is None or raw is None:
            return None
        root = self.machine.tree.root(height) if height >= (self.machine.tree.oldest or 0) else b""
        return block_record(committed, block_hash(committed.block.header), decode_outputs(raw), root)


class Emitter(mode.Service):
    """Publishes every committed height's Kafka records with a plain idempotent aiokafka
    producer (acks=all), then advances the tracking record (module docstring).

    `kafka` is the `kafka` settings section (TLS/SASL, topic settings; a bare bootstrap string
    means PLAINTEXT with default topic settings). The ledger and control topics are created
    when missing with cybermesh.kafka.topics' specs (retention, replication)."""

    def __init__(
        self,
        ledger: LedgerStore,
        committed_height: Callable[[], int],
        root_at: Callable[[int], bytes],
        validator_id: str,
        kafka: KafkaSettings | str,
        *,
        prefix: str = "",
        metrics: NodeMetrics | None = None,
        batch: int = 64,
        **kwargs: Any,
    ) -> None:
        self.ledger = ledger
        self.committed_height = committed_height
        self.root_at = root_at
        self.validator_id = validator_id
        self.kafka = kafka if isinstance(kafka, KafkaSettings) else KafkaSettings(bootstrap=kafka)
        self.prefix = prefix
        self.metrics = metrics
        self.batch = batch
        self.producer: Any = None
        self._wake = asyncio.Event()
        super().__init__(**kwargs)

    def notify(self, _height: int = 0) -> None:
        self._wake.set()

    async def on_start(self) -> None:
        from aiokafka import AIOKafkaProducer
        from aiokafka.admin import AIOKafkaAdminClient

        from cybermesh.kafka.client import client_options, producer_options
        from cybermesh.kafka.topics import ensure_topics, validator_topics

        admin = AIOKafkaAdminClient(**client_options(self.kafka))
        await admin.start()
        try:
            ours = {self.prefix + t for t in (topics.LEDGER_BLOCKS, *topics.CONTROL_TOPICS)}
            wanted = [t for t in validator_topics(self.kafka, self.prefix) if t.name in ours]
            with contextlib.suppress(Exception):  # made by the start-up check or another validator
                await ensure_topics(admin, wanted)
        finally:
            await admin.close()
        self.producer = AIOKafkaProducer(
            **producer_options(self.kafka), linger_ms=5, max_request_size=16 * 1024 * 1024)
        await self.producer.start()
        self.add_future(self._run())

    async def on_stop(self) -> None:
        if self.producer is not None:
            await self.producer.stop()

    async def _run(self) -> None:
        while not self.should_stop:
            emitted, top = self.ledger.emitted, min(self.ledger.top, self.committed_height())
            if self.metrics is not None:
                self.metrics.emitted.set(emitted)
                self.metrics.emit_lag.set(max(0, top - emitted))
            if emitted >= top:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.5):
                        await self._wake.wait()
                continue
            last = min(top, emitted + self.batch)
            try:
                await self._publish(range(emitted + 1, last + 1))
            except Exception as exc:  # noqa: BLE001 - broker trouble: retry the same heights
                if self.metrics is not None:
                    self.metrics.emit_errors.inc()
                log.warning("emit of heights %d..%d failed (%s); retrying", emitted + 1, last, type(exc).__name__)
                await asyncio.sleep(1.0)
                continue
            self.ledger.set_emitted(last)

    async def _publish(self, heights: range) -> None:
        futures = []
        for h in heights:
            committed = self.ledger.block(h)
            raw = self.ledger.outputs(h)
            assert committed is not None and raw is not None, f"ledger lacks height {h}"
            for topic, key, value in records(committed, decode_outputs(raw), self.root_at(h), self.validator_id):
                futures.append(await self.producer.send(self.prefix + topic, value, key=key, partition=0))
        await asyncio.gather(*futures)
