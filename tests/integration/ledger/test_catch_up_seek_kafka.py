"""Catch-up starts near its own height in the block log, and falls back on the whole log when
the log's disorder defeats the height search (cybermesh/node/catchup.py rule 3,
cybermesh/ledger/kafka.py `from_height`). Real broker, a certified chain, a real CommitPipeline.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import CollectorRegistry

from cybermesh.ledger.kafka import first_offset_at
from cybermesh.node.catchup import catch_up
from cybermesh.node.commit import CommitPipeline, NodeMetrics
from cybermesh.node.payload import NodePayload
from cybermesh.state import MemoryNodeStore, VersionedTree
from cybermesh.state import sample as s
from cybermesh.state.machine import StateMachine
from cybermesh.stores.ledger import LedgerStore
from tests.integration.ledger.test_replay_kafka import interleave, publish
from tests.ledger_kit import GENESIS, Chain, certified_chain

pytestmark = pytest.mark.kafka
HEIGHTS = 40
OWN = 25


@pytest.fixture(scope="module")
def chain() -> Chain:
    return certified_chain(list(range(1, HEIGHTS + 1)), per_block=2)


def pipeline_at(tmp: Path, chain: Chain, height: int) -> CommitPipeline:
    machine = StateMachine(VersionedTree(MemoryNodeStore()), GENESIS)
    machine.start()
    payload = NodePayload(machine, lambda n: [], lambda h: None)
    pipe = CommitPipeline(payload, LedgerStore(tmp / "ledger"), remove_txs=lambda hashes: None,
                          metrics=NodeMetrics(CollectorRegistry()), validator_id="v1",
                          clock_ms=lambda: s.GENESIS_TIME + 10**7)
    for committed in chain.committed[:height]:
        pipe.commit_one(committed)
    assert machine.height == height
    return pipe


async def test_catch_up_reads_from_near_its_height(
    kafka_bootstrap: str, new_topic: Callable[..., Awaitable[str]], tmp_path: Path, chain: Chain
) -> None:
    topic = await new_topic("ledger-seek")
    records = interleave(chain.records)  # 4 copies, publisher c lagging c heights
    await publish(kafka_bootstrap, topic, records)
    pipe = pipeline_at(tmp_path, chain, OWN)
    result = await catch_up(pipe, GENESIS, kafka_bootstrap, topic, slack=8)
    assert result.stopped is None
    assert (result.start, result.height) == (OWN, HEIGHTS)
    assert pipe.machine.tree.root() == chain.roots[-1]
    # the search skipped the records below: far fewer read than the log holds
    first = next(i for i, (h, _) in enumerate(records) if h == OWN + 1)
    assert result.records <= len(records) - first + 8
    assert result.records < len(records) // 2


async def test_catch_up_reads_everything_when_the_search_lands_too_late(
    kafka_bootstrap: str, new_topic: Callable[..., Awaitable[str]], tmp_path: Path, chain: Chain
) -> None:
    # a late copy of height 10 right after height 26: the search for 26 lands past 26
    topic = await new_topic("ledger-seek-late")
    order = [*range(1, OWN + 2), 10, *range(OWN + 2, HEIGHTS + 1)]
    records = [(h, chain.records[h - 1]) for h in order]
    await publish(kafka_bootstrap, topic, records)
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=None)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        found = await first_offset_at(consumer, tp, 0, len(records), OWN + 1)
    finally:
        await consumer.stop()
    assert records[found][0] > OWN + 1  # height 26 (offset 25) was skipped
    pipe = pipeline_at(tmp_path, chain, OWN)
    result = await catch_up(pipe, GENESIS, kafka_bootstrap, topic, slack=0)
    assert (result.height, result.stopped) == (HEIGHTS, None)
    assert pipe.machine.tree.root() == chain.roots[-1]
    assert result.records > len(records)  # a first pass from `found`, then the whole log
