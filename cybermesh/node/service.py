"""The consensus side of a validator inside its Faust worker (one event loop).

`Validator` (a `mode.Service`, added with `app.add_dependency`) owns: the state store and the
local ledger store (RocksDB under data_dir), the StateMachine, the NodePayload, the Replica,
the libp2p P2PService with its ConsensusDriver, the Emitter (ledger.blocks.v1 + control.*),
and the SQL Projector.

Start order: open stores -> `recover()` (ledger heights above the state) -> catch-up from
ledger.blocks.v1 -> Replica with the recent ledger (so sync can serve peers; a restarted node
catches up through consensus sync and executes the fetched blocks in order) -> emitter ->
projector -> P2P transport + driver -> rejoin watchdog (`cybermesh/node/rejoin.py`).
Stop order is the reverse. A driver failure (e.g. divergence) crashes the worker.

Live rejoin (`_rejoin`, docs/NODE.md "Live rejoin"): pause the driver, run the start-up
catch-up, build a fresh Replica with `_make_replica` (the very function start-up uses) and
swap it into the driver, resume.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

import mode
from prometheus_client import CollectorRegistry, Counter, Gauge

from cybermesh.agents.audit import audit_logger
from cybermesh.config import Settings
from cybermesh.genesis import Genesis
from cybermesh.keys import load_signing_key
from cybermesh.mempool.pool import Limits
from cybermesh.node.commit import CommitPipeline, Emitter, NodeMetrics
from cybermesh.node.payload import NodePayload
from cybermesh.proto.v1 import block_pb2
from cybermesh.state.machine import StateMachine
from cybermesh.stores.ledger import LedgerStore
from cybermesh.stores.state import StateStore
from cybermesh.tables.mempool import MempoolStore

log = logging.getLogger(__name__)


class _InMempool:
    """Container of tx hashes this node's admission verified (its current mempool)."""

    def __init__(self, mempool: MempoolStore) -> None:
        self.mempool = mempool

    def __contains__(self, tx_hash: object) -> bool:
        return tx_hash in self.mempool.pool


def _seen(msg: Any, now_ms: int) -> tuple[str, int, int]:
    """(kind, round, now_ms) of a consensus message (round 0 for sync messages)."""
    kind = msg.WhichOneof("body") or ""
    if kind == "proposal":
        return kind, int(msg.proposal.block.header.round), now_ms
    if kind == "vote":
        return kind, int(msg.vote.vote_data.round), now_ms
    if kind == "timeout":
        return kind, int(msg.timeout.round), now_ms
    return kind, 0, now_ms


class ObservedReplica:
    """The Replica with counters of what its outputs show (QC/TC observed, timeouts sent)."""

    def __init__(self, replica: Any, registry: CollectorRegistry) -> None:
        self.replica = replica
        self.qcs = Counter("cybermesh_qc_total", "new highest QCs observed", registry=registry)
        self.tcs = Counter("cybermesh_tc_total", "new timeout certificates observed", registry=registry)
        self.timeouts = Counter("cybermesh_view_changes_total", "local round timeouts (Timeout sent)",
                                registry=registry)
        self.proposals = Counter("cybermesh_proposals_total", "blocks proposed by this node", registry=registry)
        self._qc_round = 0
        self._tc_round = 0
        self.seen: dict[str, tuple[str, int, int]] = {}
        """validator id -> (message kind, its round or 0, local ms) of the last message from it."""

    def _observe(self, out: Any) -> Any:
        qc_round = int(self.replica.high_qc.vote_data.round)
        if qc_round > self._qc_round:
            self.qcs.inc()
            self._qc_round = qc_round
        tc = self.replica.last_tc
        if tc is not None and tc.round > self._tc_round:
            self.tcs.inc()
            self._tc_round = int(tc.round)
        for msg in out.broadcast:
            kind = msg.WhichOneof("body")
            if kind == "timeout":
                self.timeouts.inc()
            elif kind == "proposal":
                self.proposals.inc()
        return out

    def rebind(self, replica: Any) -> ObservedReplica:
        """The same counters and `seen` record around another replica (live rejoin)."""
        observed = copy.copy(self)
        observed.replica = replica
        return observed

    def start(self, now_ms: int) -> Any:
        return self._observe(self.replica.start(now_ms))

    def on_message(self, sender: str, msg: Any, now_ms: int) -> Any:
        self.seen[sender] = _seen(msg, now_ms)
        return self._observe(self.replica.on_message(sender, msg, now_ms))

    def on_timer(self, round_: int, now_ms: int) -> Any:
        return self._observe(self.replica.on_timer(round_, now_ms))

    @property
    def wants_tick(self) -> bool:
        return bool(self.replica.wants_tick)

    def tick(self, now_ms: int) -> Any:
        return self._observe(self.replica.tick(now_ms))


class Validator(mode.Service):
    def __init__(self, settings: Settings, genesis: Genesis, mempool: MempoolStore,
                 registry: CollectorRegistry, *, ingest: Any = None, **kwargs: Any) -> None:
        self.settings = settings
        self.genesis = genesis
        self.mempool = mempool
        self.registry = registry
        self.ingest = ingest
        """cybermesh.agents.ingest.Ingest of this worker (told what is committed), or None."""
        self.metrics = NodeMetrics(registry)
        self.store: StateStore | None = None
        self.ledger: LedgerStore | None = None
        self.pipeline: CommitPipeline | None = None
        self.replica: Any = None
        self.emitter: Emitter | None = None
        self.projector: Any = None
        self.p2p: Any = None
        self.payload: NodePayload | None = None
        self.observed: ObservedReplica | None = None
        self.rejoins = Counter("cybermesh_rejoins_total", "live rejoins: catch-up from the block log "
                               "applied blocks and a fresh replica was swapped in", registry=registry)
        self.rejoin_attempts = Counter("cybermesh_rejoin_attempts_total",
                                       "live rejoin attempts (stuck behind the peers' sync window)",
                                       registry=registry)
        super().__init__(**kwargs)

    def _candidates(self, n: int) -> Iterable[block_pb2.Tx]:
        if not self.mempool.ready:
            return []
        entries = self.mempool.pool.select(Limits(n, 1 << 62))
        return [block_pb2.Tx(schema_version=1, kind=e.kind, raw=e.raw) for e in entries]  # type: ignore[arg-type]

    def _remove(self, tx_hashes: Iterable[bytes]) -> None:
        self.mempool.remove_committed(tx_hashes)

    def _make_replica(self) -> Any:
        """A Replica at the committed height of the local ledger: used at start-up and by live
        rejoin alike. NOTE: it loads the safety data from the same file (`consensus.safety_file`)
        every replica of this node has written before each vote or timeout, so a fresh replica
        votes only in rounds above the last one voted or timed out in: never a double vote."""
        from cybermesh.consensus.pacemaker import PacemakerConfig
        from cybermesh.consensus.replica import Replica
        from cybermesh.stores.safety import FileSafetyStorage
        from cybermesh.stores.voted import FileVotedBlocks

        assert self.ledger is not None and self.payload is not None
        s, c = self.settings, self.settings.consensus
        (s.data_dir / c.safety_file).parent.mkdir(parents=True, exist_ok=True)
        me = self.genesis.validator(s.validator_id)
        assert me is not None
        replica = Replica(self.genesis, me.id, load_signing_key(s.consensus_key_path),
                          FileSafetyStorage(s.data_dir / c.safety_file), payload=self.payload,
                          pacemaker=PacemakerConfig(c.base_timeout_ms, c.max_timeout_ms),
                          ledger=self.ledger.recent(c.keep_committed), sync_batch=c.sync_batch,
                          keep_committed=c.keep_committed, empty_block_delay_ms=c.empty_block_delay_ms,
                          voted=FileVotedBlocks((s.data_dir / c.safety_file).parent / "voted"))
        self.payload.blocks = replica.block
        self.replica = replica
        self.metrics.round.set_function(lambda: replica.round)
        return replica

    async def _catch_up(self) -> Any:
        """The catch-up from ledger.blocks.v1 (cybermesh/node/catchup.py) -> CatchUp."""
        from cybermesh.kafka.client import client_options
        from cybermesh.node.catchup import catch_up
        from cybermesh.wire.topics import LEDGER_BLOCKS

        assert self.pipeline is not None
        s = self.settings
        return await catch_up(self.pipeline, self.genesis, s.kafka.bootstrap,
                              s.ingest.topic_prefix + LEDGER_BLOCKS, options=client_options(s.kafka))

    def _heights(self) -> tuple[int, int]:
        """(committed, heard-of) heights of the current replica (the rejoin watchdog's input)."""
        return int(self.replica.committed_height), int(self.replica.heard_of_height)

    async def _rejoin(self) -> int:
        """One live rejoin attempt (cybermesh/node/rejoin.py rule 2): the blocks it applied.

        1. Pause the driver: no consensus input while the commit pipeline replays the log (the
           pipeline never sees two writers; peers' messages wait in the transport's queue).
        2. Catch up from ledger.blocks.v1 exactly as at start-up.
        3. If the committed state is now above the replica's committed height (blocks were
           applied), build a fresh Replica as start-up does (`_make_replica`: same safety
           file, recent ledger, payload and pacemaker settings) and swap it in; otherwise keep
           the old one (the watchdog backs off).
        4. Resume. A DivergenceError propagates (the watchdog ends and the worker crashes)."""
        assert self.p2p is not None and self.p2p.driver is not None and self.observed is not None
        assert self.pipeline is not None
        driver = self.p2p.driver
        committed, heard_of = self._heights()
        self.rejoin_attempts.inc()
        log.warning("rejoin: committed height %d has not moved while peers are at %d or more; "
                    "pausing consensus to catch up from the block log", committed, heard_of)
        started = time.monotonic()
        async with driver.paused():
            result = await self._catch_up()
            swapped = self.pipeline.machine.height > self.replica.committed_height
            if swapped:
                fresh = self._make_replica()
                self.observed = self.observed.rebind(fresh)
                await driver.swap(self.observed)
        if swapped:
            self.rejoins.inc()
            log.warning("rejoin: height %d -> %d (%d blocks from the log, consensus paused %d ms), "
                        "fresh replica at round %d", committed, self.pipeline.machine.height,
                        result.applied, (time.monotonic() - started) * 1000, self.replica.round)
        return int(result.applied)

    async def _watch_rejoin(self) -> None:
        from cybermesh.consensus.rejoin import RejoinPolicy
        from cybermesh.node.rejoin import Watchdog

        watchdog = Watchdog(RejoinPolicy(self.settings.consensus.rejoin_after_ms),
                            heights=self._heights, rejoin=self._rejoin,
                            clock_ms=lambda: time.monotonic_ns() // 1_000_000)  # immune to clock steps
        try:
            await watchdog.run()
        except Exception as exc:  # noqa: BLE001 - rule 3: a divergence stops the worker
            await self.crash(exc)

    async def on_start(self) -> None:
        from cybermesh.p2p.driver import ConsensusDriver
        from cybermesh.p2p.peer_id import PeerId
        from cybermesh.p2p.service import P2PCollector, P2PService
        from cybermesh.p2p.transport import Transport, TransportConfig
        from cybermesh.proto.v1 import consensus_pb2
        from cybermesh.wire.strict import decode_strict, encode

        s, g = self.settings, self.genesis
        me = g.validator(s.validator_id)
        if me is None:
            raise SystemExit(f"validator {s.validator_id!r} is not in the genesis validator set")
        data = s.data_dir
        self.store = StateStore.from_settings(data, s.state)
        self.ledger = LedgerStore(data / "ledger", sync=s.state.sync)
        machine = StateMachine(self.store.tree, g)
        if self.store.tree.latest is None:
            machine.start()
        payload = NodePayload(machine, self._candidates, verified=_InMempool(self.mempool))
        self.payload = payload
        payload.on_committed_candidates = self._remove
        if self.ingest is not None:
            from cybermesh.state.records import tx_key

            view = machine.view
            self.ingest.committed = lambda tx_hash: view.get(tx_key(tx_hash)) is not None
        audit = audit_logger(data / s.ingest.audit_file if s.ingest.audit_file else None, s.validator_id)
        self.pipeline = CommitPipeline(payload, self.ledger, after_commit=self.store.after_commit,
                                       remove_txs=self._remove, metrics=self.metrics, audit=audit,
                                       validator_id=s.validator_id)
        recovered = self.pipeline.recover()
        if s.consensus.catch_up:
            await self._catch_up()
        log.info("validator %s: state height %d, ledger %d (%d recovered)", s.validator_id,
                 machine.height, self.ledger.top, recovered)
        c = s.consensus
        replica = self._make_replica()
        self.metrics.height.set(machine.height)

        self.emitter = Emitter(self.ledger, lambda: machine.height, machine.tree.root, s.validator_id,
                               s.kafka, prefix=s.ingest.topic_prefix, metrics=self.metrics,
                               loop=self.loop, beacon=self.beacon)
        self.pipeline.listeners.append(self.emitter.notify)
        await self.add_runtime_dependency(self.emitter)
        if c.project:
            await self._start_projector()

        transport = Transport.from_genesis(g, load_signing_key(s.node_key_path), TransportConfig.from_settings(s.p2p))
        self.observed = ObservedReplica(replica, self.registry)
        driver = ConsensusDriver(
            self.observed, transport,
            {v.id: PeerId.from_ed25519(v.node_pubkey) for v in g.validators}, me=me.id,
            decode=lambda raw: decode_strict(consensus_pb2.ConsensusMessage, raw), encode=encode,
            on_commit=self._on_commit)
        self.registry.register(P2PCollector(transport, driver))
        self.p2p = P2PService(transport, s.p2p.listen, driver=driver, loop=self.loop, beacon=self.beacon)
        await self.add_runtime_dependency(self.p2p)
        if c.rejoin_after_ms > 0:
            self.add_future(self._watch_rejoin())

    def _on_commit(self, commits: Sequence[block_pb2.CommittedBlock]) -> None:
        assert self.pipeline is not None
        self.pipeline.on_commit(commits)

    async def _start_projector(self) -> None:
        from cybermesh.startup import check_db
        from cybermesh.storage.engine import make_engine
        from cybermesh.storage.projector import Projector
        from cybermesh.storage.sql import SqlStore

        assert self.pipeline is not None
        url = self.settings.db_url
        check_db(self.settings)  # migrates or refuses (db.migrate_on_start)
        store = SqlStore(url, engine=make_engine(url, options=self.settings.db))
        self.projector = Projector(store, self.settings.validator_id, self.pipeline.projection_record)
        self.pipeline.listeners.append(self.projector.notify)
        projector = self.projector
        Gauge("cybermesh_projection_local_height", "last height this validator projected to SQL",
              registry=self.registry).set_function(lambda: projector.height)
        await self.projector.start()

    async def on_shutdown(self) -> None:
        """After the children (P2P, emitter) have stopped: nothing commits any more."""
        if self.projector is not None:
            try:
                await self.projector.stop()
            except Exception as exc:  # noqa: BLE001 - report and go on stopping
                log.error("projector halted: %s", exc)
        if self.ledger is not None:
            self.ledger.close()
        if self.store is not None:
            self.store.close()
