"""Emitter on the real broker: publishes heights above the tracking record, in order, with the
documented keys, then advances the record; a restart re-emits only what was not acknowledged."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from cybermesh.ledger import height_key
from cybermesh.node.commit import CommitPipeline, Emitter
from cybermesh.node.outputs import event_key
from cybermesh.node.payload import NodePayload
from cybermesh.proto.v1 import block_pb2, control_pb2
from cybermesh.stores.ledger import LedgerStore
from cybermesh.wire import topics
from tests.unit.node.test_commit import committed, evidence_tx
from tests.unit.node.test_payload import Chain, a, new_machine, template

pytestmark = pytest.mark.kafka


async def read_all(bootstrap: str, topic: str) -> list[tuple[bytes, bytes]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        out: list[tuple[bytes, bytes]] = []
        while await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=2000)
            out.extend((m.key, m.value) for m in batch.get(tp, []))
        return out
    finally:
        await consumer.stop()


async def wait_emitted(ledger: LedgerStore, height: int) -> None:
    for _ in range(200):
        if ledger.emitted >= height:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"emitted {ledger.emitted} < {height}")


async def test_emitter_publishes_in_order_and_resumes_from_tracking_record(
        tmp_path: Path, kafka_bootstrap: str) -> None:
    m, chain = new_machine(), Chain()
    pool = [a(1), a(2), evidence_tx()]
    payload = NodePayload(m, lambda n: pool[:n], chain.get)
    ledger = LedgerStore(tmp_path / "ledger")
    pipe = CommitPipeline(payload, ledger, validator_id="v1")
    b1 = chain.add(payload.build(template(m.parent, 1), m.parent))
    b2 = chain.add(payload.build(template(b1.header, 2), b1.header))
    pipe.on_commit([committed(b1), committed(b2)])
    prefix = "it" + uuid.uuid4().hex[:8] + "-"

    async def run_until(height: int) -> None:
        emitter = Emitter(ledger, lambda: m.height, m.tree.root, "v1", kafka_bootstrap, prefix=prefix)
        await emitter.start()
        try:
            await wait_emitted(ledger, height)
        finally:
            await emitter.stop()

    await run_until(2)
    blocks = await read_all(kafka_bootstrap, prefix + topics.LEDGER_BLOCKS)
    assert [k for k, _ in blocks] == [height_key(1), height_key(2)]
    assert block_pb2.CommittedBlock.FromString(blocks[1][1]) == committed(b2)
    evidence = await read_all(kafka_bootstrap, prefix + topics.CONTROL_EVIDENCE)
    assert len(evidence) == 1 and evidence[0][0][:8] == height_key(1)
    assert evidence[0][0] in {event_key(1, i) for i in range(10)}
    commits = [control_pb2.CommitEvent.FromString(v) for _, v in
               await read_all(kafka_bootstrap, prefix + topics.CONTROL_COMMITS)]
    assert [(c.height, c.state_root, c.validator_id) for c in commits] == [
        (1, m.tree.root(1), "v1"), (2, m.tree.root(2), "v1")]
    # a third block while the emitter is down; the restarted emitter sends only height 3
    pool.append(a(4))
    b3 = chain.add(payload.build(template(b2.header, 3), b2.header))
    pipe.on_commit([committed(b3)])
    await run_until(3)
    blocks = await read_all(kafka_bootstrap, prefix + topics.LEDGER_BLOCKS)
    assert [k for k, _ in blocks] == [height_key(1), height_key(2), height_key(3)]
    ledger.close()
