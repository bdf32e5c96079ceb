"""Four real validators (`faust -A cybermesh.app worker`) on the real broker, end to end.

Signed events (anomalies, evidence citing them, policy; plus invalid and duplicated records)
go in on the ai.* topics; the test reads ledger.blocks.v1 and control.commits.v1 back and the
validators' SQLite projections, and checks (issue 10 acceptance, at a smaller N):

1. every valid event is committed exactly once; no invalid one is;
2. every validator published the same block hash and state root for every height;
3. control.commits.v1 holds one logical commit per height (1..H, no gap);
4. the SQL projections are equal across validators up to a common height;
5. (fault) a validator SIGKILLed under load and restarted catches up with the same chain.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import nacl.signing
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy import create_engine, text

from cybermesh.block import block_hash
from cybermesh.loadgen import LoadGenerator
from cybermesh.producer import Publisher, Signer
from cybermesh.proto.v1 import block_pb2, control_pb2
from cybermesh.wire import topics
from tests.e2e.validators import PRODUCERS, Network, seed

pytestmark = pytest.mark.kafka

N_VALID = 1000
N_INVALID = 50
N_DUPLICATE = 50
DEADLINE_S = 120


async def create_topics(bootstrap: str, prefix: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = [*topics.AI_TOPICS, *(topics.dlq_topic(t) for t in topics.AI_TOPICS),
                 topics.LEDGER_BLOCKS, *topics.CONTROL_TOPICS]
        await admin.create_topics([NewTopic(prefix + t, 1, 1) for t in names])
    finally:
        await admin.close()


def make_events(net: Network) -> tuple[list[Any], list[Any], list[Any]]:
    """(valid, invalid, duplicates) SignedRecords from the loadgen mix."""
    signers = {t: Signer(nacl.signing.SigningKey(seed(p)), p) for p, (t, _) in PRODUCERS.items()}
    gen = LoadGenerator(random.Random(7), list(topics.AI_TOPICS), net.tag)
    valid = [signers[t].build(t, f) for t, f in (gen.next() for _ in range(N_VALID))]
    invalid = []
    for i in range(N_INVALID):
        t, f = gen.next()
        rec = signers[t].build(t, f)
        bad = bytearray(rec.value)
        bad[-1] ^= 0x01  # last byte of the signature or pubkey: fails verification
        invalid.append(type(rec)(rec.topic, rec.key, bytes(bad), rec.id, rec.nonce))
        del i
    return valid, invalid, valid[:N_DUPLICATE]


async def publish(net: Network, records: list[Any]) -> None:
    mapping = {t: net.prefix + t for t in topics.AI_TOPICS}
    async with Publisher(net.bootstrap, topic_map=mapping) as pub:
        futures = [await pub.send(r) for r in records]
        await asyncio.gather(*futures)


async def read_topic(bootstrap: str, topic: str) -> list[Any]:
    """Every record of a single-partition topic up to its end offset when called."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                                max_partition_fetch_bytes=16 << 20)
    await consumer.start()
    out: list[Any] = []
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        while await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=2000, max_records=20_000)
            out.extend(m for m in batch.get(tp, []) if m.offset < end)
    finally:
        await consumer.stop()
    return out


async def assert_same_roots(bootstrap: str, prefix: str, ids: list[str], heights: list[int]) -> None:
    """Every validator published on control.commits.v1, for each of `heights`, one and the
    same state root."""
    roots: dict[int, dict[str, bytes]] = {}
    for rec in await read_topic(bootstrap, prefix + topics.CONTROL_COMMITS):
        e = control_pb2.CommitEvent.FromString(rec.value)
        roots.setdefault(e.height, {})[e.validator_id] = e.state_root
    for h in heights:
        assert set(roots[h]) == set(ids), (h, sorted(roots[h]))
        assert len(set(roots[h].values())) == 1, f"state roots differ at {h}"


class Ledger:
    """ledger.blocks.v1 read back: blocks per height, per publishing copy."""

    def __init__(self, records: list[Any]) -> None:
        self.by_height: dict[int, set[bytes]] = defaultdict(set)
        self.blocks: dict[int, block_pb2.Block] = {}
        for r in records:
            cb = block_pb2.CommittedBlock.FromString(r.value)
            h = int.from_bytes(r.key, "big")
            assert h == cb.block.header.height
            self.by_height[h].add(block_hash(cb.block.header))
            self.blocks[h] = cb.block

    @property
    def top(self) -> int:
        return max(self.blocks, default=0)

    def tx_hashes(self) -> list[bytes]:
        return [hashlib.sha256(tx.raw).digest() for h in sorted(self.blocks) for tx in self.blocks[h].txs]


async def wait_committed(net: Network, want: set[bytes]) -> Ledger:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        ledger = Ledger(await read_topic(net.bootstrap, net.prefix + topics.LEDGER_BLOCKS))
        if want <= set(ledger.tx_hashes()) or time.monotonic() > deadline:
            return ledger
        dead = {v: rc for v, rc in net.alive().items() if rc is not None}
        assert not dead, f"validators exited: {dead}\n{net.log_tail(next(iter(dead)))}"
        await asyncio.sleep(2.0)


async def heights(net: Network, name: str = "cybermesh_emitted_height") -> dict[str, float | None]:
    return {v: await net.metric(v, name) for v in net.ids}


async def wait_all_at_least(net: Network, height: int, name: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        hs = await heights(net, name)
        if all(h is not None and h >= height for h in hs.values()):
            return
        await asyncio.sleep(1.0)
    raise AssertionError(f"{name} below {height}: {await heights(net, name)}")


def projection_rows(net: Network, v: str, top: int) -> tuple[list[Any], list[Any]]:
    """The block and transaction rows of v's projection up to `top` (SQLite or PostgreSQL)."""
    engine = create_engine(net.db_url(v))
    try:
        with engine.connect() as con:
            blocks = con.execute(text("select height, hash, parent_hash, state_root, tx_count from blocks "
                                      "where height <= :top order by height"), {"top": top}).all()
            txs = con.execute(text("select height, idx, tx_hash, status from transactions where height <= :top "
                                   "order by height, idx"), {"top": top}).all()
    finally:
        engine.dispose()
    return [tuple(r) for r in blocks], [tuple(r) for r in txs]


async def check_network(net: Network, valid: list[Any], invalid: list[Any]) -> None:
    want = {r.tx_hash for r in valid}
    ledger = await wait_committed(net, want)
    committed = ledger.tx_hashes()
    # 1. every valid event exactly once, no invalid one
    assert len(committed) == len(set(committed)), "a tx was committed twice"
    assert set(committed) == want, (len(want - set(committed)), len(set(committed) - want))
    assert not {r.tx_hash for r in invalid} & set(committed)
    top = ledger.top
    await wait_all_at_least(net, top, "cybermesh_emitted_height")
    await wait_all_at_least(net, top, "cybermesh_projection_local_height")
    ledger = Ledger(await read_topic(net.bootstrap, net.prefix + topics.LEDGER_BLOCKS))
    # 2. one block per height whoever published it; heights 1..top without gaps
    assert all(len(ledger.by_height[h]) == 1 for h in range(1, top + 1)), "validators disagree on a block"
    # 3. control.commits.v1: each validator's copy per height, all equal, no gap
    commits: dict[int, set[tuple[bytes, bytes]]] = defaultdict(set)
    publishers: dict[int, set[str]] = defaultdict(set)
    for r in await read_topic(net.bootstrap, net.prefix + topics.CONTROL_COMMITS):
        ev = control_pb2.CommitEvent.FromString(r.value)
        assert int.from_bytes(r.key, "big") == ev.height
        commits[ev.height].add((bytes(ev.hash), bytes(ev.state_root)))
        publishers[ev.height].add(ev.validator_id)
    for h in range(1, top + 1):
        assert len(commits[h]) == 1, f"height {h}: {len(commits[h])} different (hash, root)"
        assert next(iter(commits[h]))[0] in ledger.by_height[h]
        assert publishers[h] == set(net.ids), f"height {h} published by {sorted(publishers[h])}"
    # 4. SQL projections equal
    first = projection_rows(net, net.ids[0], top)
    assert len(first[0]) == top and len(first[1]) == len(want)
    for v in net.ids[1:]:
        assert projection_rows(net, v, top) == first, f"projection of {v} differs"


async def test_four_validators_end_to_end(tmp_path: Path, kafka_bootstrap: str) -> None:
    await run_end_to_end(Network(tmp_path, kafka_bootstrap))


@pytest.mark.postgres
async def test_four_validators_end_to_end_on_postgresql(tmp_path: Path, kafka_bootstrap: str, pg_url: str) -> None:
    """The same run with each validator projecting into its own PostgreSQL database."""
    net = Network(tmp_path, kafka_bootstrap, pg_url=pg_url)
    net.create_databases()
    try:
        await run_end_to_end(net)
    finally:
        net.drop_databases()


async def run_end_to_end(net: Network) -> None:
    kafka_bootstrap = net.bootstrap
    await create_topics(kafka_bootstrap, net.prefix)
    valid, invalid, dups = make_events(net)
    net.start_all()
    try:
        await wait_all_at_least(net, 1, "cybermesh_height")
        # under load: half the events, SIGKILL v3, the rest, restart v3
        half = N_VALID // 2
        await publish(net, valid[:half] + invalid[: N_INVALID // 2])
        await asyncio.sleep(2.0)
        net.kill("v3")
        await publish(net, valid[half:] + invalid[N_INVALID // 2 :] + dups)
        await asyncio.sleep(3.0)
        net.start("v3")
        await check_network(net, valid, invalid)
    finally:
        net.stop_all()
