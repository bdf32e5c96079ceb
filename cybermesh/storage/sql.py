"""SQLAlchemy Core adapter of the projection port (CockroachDB, PostgreSQL, SQLite).

How `save_block` works (one SERIALIZABLE transaction, retried as a whole, retry.py):
1. Read the validator's progress and the block rows at heights h-1 and h.
2. h > progress + 1: `ProjectionGap`.
3. Block h exists (any validator projected it): its hash must equal the record's hash and its
   record digest the record's digest, else `IntegrityAlarm`; nothing else is written for the
   block ("verified"). Blocks and their child rows are written in one transaction, so an
   existing block row means all of its rows exist.
4. Block h is new: block h-1, if present, must hash to the record's parent_hash, and no
   other height may hold the record's hash, else `IntegrityAlarm`; validators already present must be equal, else `IntegrityAlarm`; then
   all rows are inserted ("inserted"). A concurrent writer of the same block makes this
   transaction fail with 23505/40001; the retry takes path 3.
5. The validator's snapshots are inserted or verified (same alarm rule).
6. The validator's progress moves to h if h is above it.
An `IntegrityAlarm` increments the alarm metric, writes one audit JSON line
(logger `cybermesh.audit`), logs CRITICAL and rolls the transaction back.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from cybermesh.storage import metrics, rowmap
from cybermesh.storage import schema as t
from cybermesh.storage.engine import make_engine, redacted
from cybermesh.storage.port import (
    MAX_PAGE,
    BlockSummary,
    EntityState,
    EvidenceRow,
    IntegrityAlarm,
    ProjectionGap,
    RetriesExhausted,
    SaveOutcome,
    StoreUnavailable,
    TxRow,
)
from cybermesh.storage.records import (
    BlockRecord,
    SnapshotRecord,
    ValidatorRecord,
    legacy_record_digest,
    record_digest,
)
from cybermesh.storage.retry import backoff_s, is_unavailable, retry_code

log = logging.getLogger("cybermesh.storage")
audit = logging.getLogger("cybermesh.audit")

T = TypeVar("T")

_SUMMARY_COLS = (
    t.blocks.c.height, t.blocks.c.hash, t.blocks.c.parent_hash, t.blocks.c.round,
    t.blocks.c.proposer, t.blocks.c.chain_id, t.blocks.c.timestamp, t.blocks.c.state_root,
    t.blocks.c.state_root_hint, t.blocks.c.tx_count,
)  # fmt: skip


class SqlStore:
    """The projection port on one database URL (module docstring, steps 1-6)."""

    def __init__(
        self,
        url: str,
        *,
        engine: Engine | None = None,
        max_attempts: int = 16,
        backoff_base_s: float = 0.005,
        backoff_cap_s: float = 0.5,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = redacted(url)
        self._engine = engine if engine is not None else make_engine(url)
        self._max_attempts = max_attempts
        self._base_s = backoff_base_s
        self._cap_s = backoff_cap_s
        self._rng = rng if rng is not None else random.Random()
        self._sleep = sleep
        self.retries = 0
        """Whole-transaction retries done by this store (also in the Prometheus counter)."""

    @property
    def engine(self) -> Engine:
        return self._engine

    def close(self) -> None:
        self._engine.dispose()

    # --- transactions ---------------------------------------------------------------------

    def _transact(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in one transaction, retrying the whole of it on retryable errors."""
        attempt = 0
        while True:
            try:
                with self._engine.begin() as conn:
                    return work(conn)
            except DBAPIError as exc:
                code = retry_code(exc)
                if code is None:
                    if is_unavailable(exc):
                        metrics.UNAVAILABLE.inc()
                        raise StoreUnavailable(self.url, str(exc.orig).strip()) from exc
                    raise
                attempt += 1
                self.retries += 1
                metrics.DB_RETRIES.labels(code).inc()
                if attempt >= self._max_attempts:
                    raise RetriesExhausted(attempt, code) from exc
                self._sleep(
                    backoff_s(attempt, base_s=self._base_s, cap_s=self._cap_s, rng=self._rng)
                )

    # --- writes ---------------------------------------------------------------------------

    def save_block(self, record: BlockRecord, *, validator_id: str) -> SaveOutcome:
        """Project `record` for `validator_id` (port contracts 1-3; steps 1-6)."""
        digest = record_digest(record)
        outcome, height = self._transact(
            lambda conn: self._save(conn, record, digest, validator_id)
        )
        metrics.BLOCKS.labels(outcome).inc()
        metrics.HEIGHT.labels(validator_id).set(height)
        return outcome

    def _save(
        self, conn: Connection, rec: BlockRecord, digest: bytes, validator_id: str
    ) -> tuple[SaveOutcome, int]:
        """Steps 1-6; returns the outcome and the validator's progress after it."""
        h = rec.height
        progress = _progress(conn, validator_id)
        last = 0 if progress is None else progress
        if h > last + 1:
            raise ProjectionGap(validator_id, last, h)
        near = {
            int(r.height): r
            for r in conn.execute(
                select(
                    t.blocks.c.height, t.blocks.c.hash, t.blocks.c.record_hash, t.blocks.c.commit_qc
                ).where(
                    t.blocks.c.height.in_([h - 1, h])
                )
            )
        }
        outcome: SaveOutcome
        if h in near:
            stored = near[h]
            self._check("blocks", f"height={h}", bytes(stored.hash), rec.hash, validator_id)
            stored_digest = bytes(stored.record_hash)
            if stored_digest != digest and stored_digest == legacy_record_digest(
                rec, bytes(stored.commit_qc)
            ):
                stored_digest = digest  # a row written when the digest covered commit_qc
            self._check("blocks.record", f"height={h}", stored_digest, digest, validator_id)
            outcome = "verified"
        else:
            if h - 1 in near:
                parent = bytes(near[h - 1].hash)
                self._check(
                    "blocks.parent", f"height={h - 1}", parent, rec.parent_hash, validator_id
                )
            other = conn.execute(
                select(t.blocks.c.height).where(t.blocks.c.hash == rec.hash)
            ).scalar()
            if other is not None:  # the same hash at another height: never a valid chain
                self._check(
                    "blocks.hash",
                    f"hash={rec.hash.hex()}",
                    b"height=%d" % other,
                    b"height=%d" % h,
                    validator_id,
                )
            self._check_validators(conn, rec.validators, validator_id)
            self._insert_block(conn, rec, digest)
            outcome = "inserted"
        self._save_snapshots(conn, rec.snapshots, validator_id)
        if progress is None or h > last:
            _set_progress(conn, validator_id, rec, exists=progress is not None)
        return outcome, max(h, last)

    def _check(self, table: str, key: str, stored: bytes, new: bytes, validator_id: str) -> None:
        if stored == new:
            return
        metrics.INTEGRITY_ALARMS.labels(table).inc()
        audit.critical(
            json.dumps(
                {
                    "event": "projection_integrity_alarm",
                    "table": table,
                    "key": key,
                    "stored": stored.hex(),
                    "new": new.hex(),
                    "validator": validator_id,
                },
                sort_keys=True,
            )
        )
        log.critical(
            "INTEGRITY ALARM: %s %s already holds hash %s but validator %s projects %s; "
            "projection halted, row left untouched",
            table, key, stored.hex(), validator_id, new.hex(),
        )  # fmt: skip
        raise IntegrityAlarm(table, key, stored, new)

    def _check_validators(
        self, conn: Connection, vals: Sequence[ValidatorRecord], validator_id: str
    ) -> None:
        if not vals:
            return
        ids = [v.validator_id for v in vals]
        stored = {
            r.validator_id: r
            for r in conn.execute(select(t.validators).where(t.validators.c.validator_id.in_(ids)))
        }
        for v in vals:
            row = stored.get(v.validator_id)
            if row is not None:
                old = rowmap.validator_from_row(row)
                self._check(
                    "validators",
                    f"id={v.validator_id}",
                    rowmap.vdigest(old),
                    rowmap.vdigest(v),
                    validator_id,
                )

    def _insert_block(self, conn: Connection, rec: BlockRecord, digest: bytes) -> None:
        h = rec.height
        conn.execute(
            t.blocks.insert().values(
                height=h, hash=rec.hash, parent_hash=rec.parent_hash, round=rec.round,
                proposer=rec.proposer, chain_id=rec.chain_id, timestamp=rec.timestamp,
                state_root=rec.state_root, state_root_hint=rec.state_root_hint,
                tx_count=rec.tx_count, commit_qc=rec.commit_qc, record_hash=digest,
            )
        )  # fmt: skip
        rowmap.many(conn, t.transactions, [rowmap.tx_row(h, tx) for tx in rec.txs])
        rowmap.many(conn, t.evidence, [rowmap.evidence_row(h, e) for e in rec.evidence])
        rowmap.many(
            conn, t.state_kv, [{"key": c.key, "version": h, "value": c.value} for c in rec.changes]
        )
        rowmap.many(
            conn,
            t.entities,
            [
                {
                    "entity_key": t.id_hash(e.entity_id),
                    "entity_id": e.entity_id,
                    "height": h,
                    "reputation": e.reputation,
                    "quarantined": e.quarantined,
                }
                for e in rec.entities
            ],
        )
        have = set(
            conn.execute(
                select(t.validators.c.validator_id).where(
                    t.validators.c.validator_id.in_([v.validator_id for v in rec.validators])
                )
            ).scalars()
        )
        rowmap.many(
            conn,
            t.validators,
            [
                {
                    "validator_id": v.validator_id, "consensus_pubkey": v.consensus_pubkey,
                    "node_pubkey": v.node_pubkey, "address": v.address, "since_height": h,
                }
                for v in rec.validators
                if v.validator_id not in have
            ],
        )  # fmt: skip

    def _save_snapshots(
        self, conn: Connection, snaps: Sequence[SnapshotRecord], validator_id: str
    ) -> None:
        if not snaps:
            return
        s = t.state_snapshots
        stored = {
            int(r.height): r
            for r in conn.execute(
                select(s).where(
                    and_(
                        s.c.validator_id == validator_id, s.c.height.in_([x.height for x in snaps])
                    )
                )
            )
        }
        fresh = []
        for snap in snaps:
            row = stored.get(snap.height)
            if row is None:
                fresh.append(
                    {"validator_id": validator_id, "height": snap.height, "root": snap.root,
                     "location": snap.location, "size": snap.size}
                )  # fmt: skip
                continue
            old = SnapshotRecord(int(row.height), bytes(row.root), row.location, int(row.size))
            self._check(
                "state_snapshots",
                f"{validator_id}@{snap.height}",
                rowmap.sdigest(old),
                rowmap.sdigest(snap),
                validator_id,
            )
        rowmap.many(conn, s, fresh)

    # --- reads ----------------------------------------------------------------------------

    def last_height(self, validator_id: str) -> int:
        """Height of the last block projected for `validator_id` (0: none yet)."""
        value = self._transact(lambda c: _progress(c, validator_id))
        return 0 if value is None else value

    def load_block(self, height: int) -> BlockRecord | None:
        """The stored record of `height` (snapshots are per validator: see `snapshots`).

        NOTE: validators are returned at the height that first listed them (`since_height`).
        """
        return self._transact(lambda c: rowmap.load(c, height))

    def block_by_height(self, height: int) -> BlockSummary | None:
        row = self._transact(
            lambda c: c.execute(select(*_SUMMARY_COLS).where(t.blocks.c.height == height)).first()
        )
        return None if row is None else rowmap.summary(row)

    def block_by_hash(self, block_hash: bytes) -> BlockSummary | None:
        row = self._transact(
            lambda c: c.execute(select(*_SUMMARY_COLS).where(t.blocks.c.hash == block_hash)).first()
        )
        return None if row is None else rowmap.summary(row)

    def blocks_page(
        self, start: int, limit: int, *, descending: bool = False
    ) -> list[BlockSummary]:
        """Up to `limit` blocks from height `start` upward (or downward when `descending`).

        The next page starts at last.height + 1 (or last.height - 1).
        """
        rowmap.check_limit(limit)
        hc = t.blocks.c.height
        query = select(*_SUMMARY_COLS)
        query = (
            query.where(hc <= start).order_by(hc.desc())
            if descending
            else query.where(hc >= start).order_by(hc)
        )
        rows = self._transact(lambda c: c.execute(query.limit(limit)).all())
        return [rowmap.summary(r) for r in rows]

    def tx_by_hash(self, tx_hash: bytes) -> TxRow | None:
        tt = t.transactions
        row = self._transact(
            lambda c: c.execute(
                select(tt).where(tt.c.tx_hash == tx_hash).order_by(tt.c.height, tt.c.idx).limit(1)
            ).first()
        )
        return None if row is None else TxRow(int(row.height), rowmap.tx_from_row(row))

    def txs_by_id(self, tx_id: str, producer_id: str | None = None) -> list[TxRow]:
        """Transactions whose message id is `tx_id` (ids are unique per producer only)."""
        tt = t.transactions
        query = select(tt).where(tt.c.tx_id_hash == t.id_hash(tx_id))
        if producer_id is not None:
            query = query.where(tt.c.producer_id == producer_id)
        rows = self._transact(
            lambda c: c.execute(query.order_by(tt.c.height, tt.c.idx).limit(MAX_PAGE)).all()
        )
        return [TxRow(int(r.height), rowmap.tx_from_row(r)) for r in rows]

    def entity(self, entity_id: str, at_height: int | None = None) -> EntityState | None:
        """The entity's latest values (at or below `at_height` when given)."""
        e = t.entities
        query = select(e).where(e.c.entity_key == t.id_hash(entity_id))
        if at_height is not None:
            query = query.where(e.c.height <= at_height)
        row = self._transact(
            lambda c: c.execute(query.order_by(e.c.height.desc()).limit(1)).first()
        )
        return None if row is None else rowmap.entity(row)

    def quarantined(self, after: str = "", limit: int = 100) -> list[EntityState]:
        """Entities whose latest values say quarantined, by entity id after `after`."""
        rowmap.check_limit(limit)
        e = t.entities
        latest = (
            select(e.c.entity_key, func.max(e.c.height).label("h"))
            .group_by(e.c.entity_key)
            .subquery()
        )
        query = (
            select(e)
            .join(latest, and_(e.c.entity_key == latest.c.entity_key, e.c.height == latest.c.h))
            .where(e.c.quarantined.is_(True), e.c.entity_id > after)
            .order_by(e.c.entity_id)
            .limit(limit)
        )
        rows = self._transact(lambda c: c.execute(query).all())
        return [rowmap.entity(r) for r in rows]

    def evidence(self, evidence_id: str) -> list[EvidenceRow]:
        ev = t.evidence
        rows = self._transact(
            lambda c: c.execute(
                select(ev)
                .where(ev.c.evidence_id_hash == t.id_hash(evidence_id))
                .order_by(ev.c.height, ev.c.tx_index)
                .limit(MAX_PAGE)
            ).all()
        )
        return [EvidenceRow(int(r.height), rowmap.evidence_from_row(r)) for r in rows]

    def validators(self) -> list[ValidatorRecord]:
        rows = self._transact(
            lambda c: c.execute(select(t.validators).order_by(t.validators.c.validator_id)).all()
        )
        return [rowmap.validator_from_row(r) for r in rows]

    def state_value(self, key: bytes, at_height: int | None = None) -> bytes | None:
        """The value of a state key at its latest version (<= at_height); None if deleted/absent."""
        kv = t.state_kv
        query = select(kv.c.value).where(kv.c.key == key)
        if at_height is not None:
            query = query.where(kv.c.version <= at_height)
        value = self._transact(
            lambda c: c.execute(query.order_by(kv.c.version.desc()).limit(1)).scalar()
        )
        return None if value is None else bytes(value)

    def snapshots(self, validator_id: str) -> list[SnapshotRecord]:
        s = t.state_snapshots
        rows = self._transact(
            lambda c: c.execute(
                select(s).where(s.c.validator_id == validator_id).order_by(s.c.height)
            ).all()
        )
        return [SnapshotRecord(int(r.height), bytes(r.root), r.location, int(r.size)) for r in rows]


def _progress(conn: Connection, validator_id: str) -> int | None:
    pp = t.projection_progress
    value = conn.execute(select(pp.c.height).where(pp.c.validator_id == validator_id)).scalar()
    return None if value is None else int(value)


def _set_progress(conn: Connection, validator_id: str, rec: BlockRecord, *, exists: bool) -> None:
    pp = t.projection_progress
    if exists:
        conn.execute(
            pp.update()
            .where(pp.c.validator_id == validator_id)
            .values(height=rec.height, hash=rec.hash)
        )
    else:
        conn.execute(
            pp.insert().values(validator_id=validator_id, height=rec.height, hash=rec.hash)
        )
