"""Contract suite of the projection port: one abstract suite, one subclass per backend.

Chain used below (5 txs per block, tx 9 of 10 is evidence; validators listed at height 1):

    1 <- 2 <- 3 <- ... (parent hashes link them; snapshot every 10th height)
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable, Iterator

import pytest
from projection_builders import VALIDATORS, make_chain, make_record
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from cybermesh.storage import migrate
from cybermesh.storage import schema as t
from cybermesh.storage.port import MAX_PAGE, IntegrityAlarm, ProjectionGap
from cybermesh.storage.records import (
    BlockRecord,
    EntityRecord,
    SnapshotRecord,
    ValidatorRecord,
    legacy_record_digest,
)
from cybermesh.storage.sql import SqlStore


def _alarms(table: str) -> float:
    return (
        REGISTRY.get_sample_value("cybermesh_projection_integrity_alarms_total", {"table": table})
        or 0.0
    )


def _counts(store: SqlStore) -> dict[str, int]:
    with store.engine.connect() as conn:
        return {
            tbl.name: int(conn.execute(select(func.count()).select_from(tbl)).scalar_one())
            for tbl in t.metadata.sorted_tables
        }


def _chain_only(rec: BlockRecord) -> BlockRecord:
    return dataclasses.replace(rec, snapshots=())


class ProjectionContract:
    """Every backend must pass these. Subclasses provide the `store` fixture (migrated, empty)."""

    @pytest.fixture
    def store(self) -> Iterator[SqlStore]:
        raise NotImplementedError

    @pytest.fixture
    def chain(self) -> list[BlockRecord]:
        return make_chain(12, 10)

    def _save(self, store: SqlStore, chain: list[BlockRecord], v: str = "v0") -> None:
        for rec in chain:
            assert store.save_block(rec, validator_id=v) == "inserted"

    # --- round trips and idempotence ----------------------------------------------------

    def test_empty_store(self, store: SqlStore) -> None:
        assert store.last_height("v0") == 0
        assert store.load_block(1) is None
        assert store.blocks_page(1, 10) == []

    def test_save_load_round_trip(self, store: SqlStore, chain: list[BlockRecord]) -> None:
        self._save(store, chain)
        assert store.last_height("v0") == 12
        for rec in chain:
            assert store.load_block(rec.height) == _chain_only(rec)
        assert store.load_block(1).validators == VALIDATORS  # type: ignore[union-attr]
        assert store.snapshots("v0") == [chain[9].snapshots[0]]
        big = [tx for tx in chain[0].txs if tx.nonce >= 2**63]
        assert big, "the builder puts a nonce above 2**63 in every block"
        assert store.tx_by_hash(big[0].tx_hash).tx == big[0]  # type: ignore[union-attr]

    def test_resave_is_idempotent(self, store: SqlStore, chain: list[BlockRecord]) -> None:
        self._save(store, chain[:5])
        before = _counts(store)
        for rec in chain[:5]:
            assert store.save_block(rec, validator_id="v0") == "verified"
        assert _counts(store) == before
        assert store.last_height("v0") == 5

    def test_validators_share_blocks(self, store: SqlStore, chain: list[BlockRecord]) -> None:
        self._save(store, chain[:4], "v0")
        for rec in chain[:3]:
            assert store.save_block(rec, validator_id="v1") == "verified"
        assert store.last_height("v0") == 4
        assert store.last_height("v1") == 3
        assert _counts(store)["blocks"] == 4
        # v1 overtakes: block 5 is new to everyone
        assert store.save_block(chain[3], validator_id="v1") == "verified"
        assert store.save_block(chain[4], validator_id="v1") == "inserted"
        assert store.last_height("v0") == 4

    def test_gap_is_refused(self, store: SqlStore, chain: list[BlockRecord]) -> None:
        self._save(store, chain[:1])
        with pytest.raises(ProjectionGap) as err:
            store.save_block(chain[2], validator_id="v0")
        assert (err.value.last_height, err.value.height) == (1, 3)
        assert store.load_block(3) is None

    # --- integrity alarms -----------------------------------------------------------------

    def test_conflicting_block_hash_alarms_and_leaves_row(
        self, store: SqlStore, chain: list[BlockRecord], caplog: pytest.LogCaptureFixture
    ) -> None:
        self._save(store, chain[:3])
        assert store.save_block(chain[0], validator_id="v1") == "verified"
        before = _counts(store)
        fork = make_record(2, chain[0].hash, 7)  # same height, other txs => other hash
        assert fork.hash != chain[1].hash
        alarms = _alarms("blocks")
        with caplog.at_level(logging.CRITICAL), pytest.raises(IntegrityAlarm) as err:
            store.save_block(fork, validator_id="v1")
        assert err.value.table == "blocks"
        assert (err.value.stored, err.value.new) == (chain[1].hash, fork.hash)
        assert _alarms("blocks") == alarms + 1
        lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "cybermesh.audit"]
        assert lines and lines[-1]["event"] == "projection_integrity_alarm"
        assert lines[-1]["stored"] == chain[1].hash.hex()
        assert store.load_block(2) == _chain_only(chain[1])
        assert _counts(store) == before
        assert store.last_height("v1") == 1

    def test_divergent_execution_alarms(self, store: SqlStore, chain: list[BlockRecord]) -> None:
        self._save(store, chain[:2])
        assert store.save_block(chain[0], validator_id="v1") == "verified"
        diverged = make_record(2, chain[0].hash, 10, variant=1)  # same block, other state root
        assert diverged.hash == chain[1].hash
        with pytest.raises(IntegrityAlarm) as err:
            store.save_block(diverged, validator_id="v1")
        assert err.value.table == "blocks.record"
        assert store.load_block(2) == _chain_only(chain[1])

    def test_a_block_committed_under_another_qc_is_verified(
        self, store: SqlStore, chain: list[BlockRecord]
    ) -> None:
        # v1 committed block 2 later, with a descendant's commit QC: the same block, another proof.
        self._save(store, chain[:2])
        other_proof = dataclasses.replace(chain[1], commit_qc=chain[1].commit_qc + b"\x01")
        alarms = _alarms("blocks.record")
        assert store.save_block(chain[0], validator_id="v1") == "verified"
        assert store.save_block(other_proof, validator_id="v1") == "verified"
        assert _alarms("blocks.record") == alarms
        assert store.load_block(2) == _chain_only(chain[1])  # the first writer's proof stays

    def test_rows_with_the_older_digest_still_verify(
        self, store: SqlStore, chain: list[BlockRecord]
    ) -> None:
        self._save(store, chain[:2])
        with store.engine.begin() as conn:  # as written when the digest covered commit_qc
            conn.execute(
                t.blocks.update()
                .where(t.blocks.c.height == 2)
                .values(record_hash=legacy_record_digest(chain[1], chain[1].commit_qc))
            )
        assert store.save_block(chain[0], validator_id="v1") == "verified"
        other_proof = dataclasses.replace(chain[1], commit_qc=b"\x02" * 40)
        assert store.save_block(other_proof, validator_id="v1") == "verified"
        diverged = dataclasses.replace(
            make_record(2, chain[0].hash, 10, variant=1), commit_qc=chain[1].commit_qc
        )
        assert store.save_block(chain[0], validator_id="v2") == "verified"
        with pytest.raises(IntegrityAlarm) as err:
            store.save_block(diverged, validator_id="v2")
        assert err.value.table == "blocks.record"

    def test_fork_against_stored_parent_alarms(
        self, store: SqlStore, chain: list[BlockRecord]
    ) -> None:
        self._save(store, chain[:2])
        orphan = make_record(3, b"\x07" * 32, 10)
        with pytest.raises(IntegrityAlarm) as err:
            store.save_block(orphan, validator_id="v0")
        assert err.value.table == "blocks.parent"
        assert store.load_block(3) is None
        assert store.last_height("v0") == 2

    def test_block_hash_reused_at_another_height_alarms(
        self, store: SqlStore, chain: list[BlockRecord]
    ) -> None:
        self._save(store, chain[:3])
        replay = dataclasses.replace(make_record(4, chain[2].hash, 10), hash=chain[0].hash)
        with pytest.raises(IntegrityAlarm) as err:
            store.save_block(replay, validator_id="v0")
        assert err.value.table == "blocks.hash"
        assert (err.value.stored, err.value.new) == (b"height=1", b"height=4")
        assert store.load_block(4) is None and store.last_height("v0") == 3

    def test_conflicting_validator_alarms(self, store: SqlStore, chain: list[BlockRecord]) -> None:
        self._save(store, chain[:1])
        changed = ValidatorRecord(
            "v0", b"\xee" * 32, VALIDATORS[0].node_pubkey, VALIDATORS[0].address
        )
        rec = dataclasses.replace(make_record(2, chain[0].hash, 10), validators=(changed,))
        with pytest.raises(IntegrityAlarm) as err:
            store.save_block(rec, validator_id="v0")
        assert err.value.table == "validators"
        assert store.validators() == list(VALIDATORS)
        assert store.load_block(2) is None

    def test_conflicting_snapshot_alarms(self, store: SqlStore, chain: list[BlockRecord]) -> None:
        self._save(store, chain[:10])
        snap = chain[9].snapshots[0]
        other = SnapshotRecord(snap.height, b"\x01" * 32, snap.location, snap.size)
        with pytest.raises(IntegrityAlarm) as err:
            store.save_block(dataclasses.replace(chain[9], snapshots=(other,)), validator_id="v0")
        assert err.value.table == "state_snapshots"
        assert store.snapshots("v0") == [snap]

    # --- queries ----------------------------------------------------------------------------

    def test_block_lookups(self, store: SqlStore, chain: list[BlockRecord]) -> None:
        self._save(store, chain)
        by_h = store.block_by_height(7)
        assert by_h is not None and by_h.hash == chain[6].hash and by_h.tx_count == 10
        assert store.block_by_hash(chain[6].hash) == by_h
        assert store.block_by_height(13) is None
        assert store.block_by_hash(b"\x00" * 32) is None

    def test_pagination_edges(self, store: SqlStore, chain: list[BlockRecord]) -> None:
        self._save(store, chain)
        assert [b.height for b in store.blocks_page(1, 5)] == [1, 2, 3, 4, 5]
        assert [b.height for b in store.blocks_page(6, 5)] == [6, 7, 8, 9, 10]
        assert [b.height for b in store.blocks_page(11, 5)] == [11, 12]
        assert store.blocks_page(13, 5) == []
        assert [b.height for b in store.blocks_page(12, 1)] == [12]
        assert [b.height for b in store.blocks_page(0, MAX_PAGE)] == list(range(1, 13))
        assert [b.height for b in store.blocks_page(12, 3, descending=True)] == [12, 11, 10]
        assert [b.height for b in store.blocks_page(2, 3, descending=True)] == [2, 1]
        assert store.blocks_page(0, 3, descending=True) == []
        for bad in (0, -1, MAX_PAGE + 1):
            with pytest.raises(ValueError, match="limit"):
                store.blocks_page(1, bad)

    def test_tx_queries(self, store: SqlStore, chain: list[BlockRecord]) -> None:
        self._save(store, chain[:3])
        tx = chain[2].txs[4]
        row = store.tx_by_hash(tx.tx_hash)
        assert row is not None and (row.height, row.tx) == (3, tx)
        assert row.tx.status == tx.status and row.tx.raw == tx.raw
        assert store.tx_by_hash(b"\x01" * 32) is None
        assert [r.tx for r in store.txs_by_id(tx.tx_id)] == [tx]
        assert [r.tx for r in store.txs_by_id(tx.tx_id, producer_id=tx.producer_id)] == [tx]
        assert store.txs_by_id(tx.tx_id, producer_id="nobody") == []
        assert store.txs_by_id("missing") == []

    def test_evidence_query(self, store: SqlStore, chain: list[BlockRecord]) -> None:
        self._save(store, chain[:3])
        ev = chain[1].evidence[0]
        rows = store.evidence(ev.evidence_id)
        assert [(r.height, r.evidence) for r in rows] == [(2, ev)]
        assert ev.refs == ("a-2-0", "a-1-0") and ev.status in ("accepted", "rejected")
        assert store.evidence("nope") == []

    def test_entity_and_quarantine(self, store: SqlStore) -> None:
        chain = make_chain(12, 3)
        self._save(store, chain)
        # entity 10.0.h%7.j is written at every height h with h%7 == its third octet
        e = store.entity("10.0.3.0")
        assert e is not None and (e.height, e.reputation) == (10, -100)
        old = store.entity("10.0.3.0", at_height=9)
        assert old is not None and (old.height, old.reputation) == (3, -30)
        assert store.entity("10.0.3.0", at_height=2) is None
        assert store.entity("nobody") is None
        expected = sorted({ent.entity_id: ent for rec in chain for ent in rec.entities}.items())
        quarantined = [eid for eid, ent in expected if ent.quarantined]
        assert quarantined, "the builder quarantines some entities"
        assert [q.entity_id for q in store.quarantined(limit=MAX_PAGE)] == quarantined
        first = store.quarantined(limit=1)
        assert [q.entity_id for q in first] == quarantined[:1]
        rest = store.quarantined(after=first[0].entity_id, limit=MAX_PAGE)
        assert [q.entity_id for q in rest] == quarantined[1:]
        assert store.quarantined(after=quarantined[-1]) == []

    def test_state_values(self, store: SqlStore, chain: list[BlockRecord]) -> None:
        self._save(store, chain[:4])
        assert store.state_value(b"tmp/2") is None  # deleted at height 3
        assert store.state_value(b"tmp/2", at_height=2) == b"\x00"
        assert store.state_value(b"tmp/4") == b"\x00"
        assert store.state_value(b"tmp/4", at_height=3) is None
        assert store.state_value(b"rep/10.0.3.1") == (31).to_bytes(8, "big")
        assert store.state_value(b"missing") is None

    def test_producer_chosen_strings_of_any_content(self, store: SqlStore) -> None:
        """NUL characters, non-ASCII and 5,000-char ids round-trip and are found."""
        base = make_record(1, bytes(32), 10)
        weird = "x\x00\u00e9\U0001f600" + "y" * 5000
        txs = (dataclasses.replace(base.txs[0], tx_id=weird), *base.txs[1:])
        ev = dataclasses.replace(
            base.evidence[0], evidence_id=weird, action="quarantine\x00" + weird
        )
        ents = tuple(
            sorted(
                (EntityRecord(weird, -1, True), EntityRecord("\x00", 2, False)),
                key=lambda e: e.entity_id,
            )
        )
        rec = dataclasses.replace(base, txs=txs, evidence=(ev,), entities=ents)
        assert store.save_block(rec, validator_id="v0") == "inserted"
        assert store.load_block(1) == _chain_only(rec)
        assert [r.tx for r in store.txs_by_id(weird)] == [txs[0]]
        assert [r.evidence for r in store.evidence(weird)] == [ev]
        found = store.entity(weird)
        assert found is not None and found.reputation == -1
        assert [q.entity_id for q in store.quarantined()] == [weird]
        assert store.save_block(rec, validator_id="v0") == "verified"

    def test_validators_query(self, store: SqlStore, chain: list[BlockRecord]) -> None:
        assert store.validators() == []
        self._save(store, chain[:2])
        assert store.validators() == list(VALIDATORS)


class TestSqlite(ProjectionContract):
    @pytest.fixture
    def store(self, tmp_path: object) -> Iterator[SqlStore]:
        url = f"sqlite:///{tmp_path}/projection.db"
        migrate.upgrade(url)
        s = SqlStore(url)
        yield s
        s.close()


@pytest.mark.postgres
class TestPostgres(ProjectionContract):
    @pytest.fixture
    def store(self, fresh_pg_url: Callable[..., str]) -> Iterator[SqlStore]:
        s = SqlStore(fresh_pg_url())
        yield s
        s.close()


@pytest.mark.postgres
class TestCockroachDialectOnPostgres(ProjectionContract):
    """The production dialect (`cockroachdb+psycopg://`) against PostgreSQL (DESIGN §7)."""

    @pytest.fixture
    def store(self, fresh_pg_url: Callable[..., str]) -> Iterator[SqlStore]:
        s = SqlStore(fresh_pg_url("cockroachdb+psycopg"))
        yield s
        s.close()


@pytest.mark.skipif(not os.environ.get("CYBERMESH_CRDB_URL"), reason="set CYBERMESH_CRDB_URL")
class TestCockroachDB(ProjectionContract):
    """A real CockroachDB (none can be installed on these machines; ready to run by URL)."""

    @pytest.fixture
    def store(self) -> Iterator[SqlStore]:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        base = make_url(os.environ["CYBERMESH_CRDB_URL"])
        name = "cmproj_" + os.urandom(6).hex()
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        url = base.set(database=name).render_as_string(hide_password=False)
        migrate.upgrade(url)
        s = SqlStore(url)
        yield s
        s.close()
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE {name} CASCADE"))
        admin.dispose()
