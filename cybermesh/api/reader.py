"""Read-only queries of the SQL projection for the API (adapter; SQLAlchemy Core).

Rules:
1. Reads never take write locks: the reader owns its own engine. On SQLite it runs without
   `BEGIN IMMEDIATE` (the projector's write transactions stay unblocked; WAL gives readers
   a consistent snapshot per statement); on PostgreSQL/CockroachDB it is the projection's
   SERIALIZABLE engine, used for single statements.
2. Every method is synchronous and bounded (a page or a fixed cap); callers run them in a
   worker thread (`asyncio.to_thread`), never on the event loop.
3. Entities are read from `state_kv` (`rep/<id>` and `quarantine/<id>` records, latest
   version per key, deleted ones skipped): the node's commit path writes no `entities` rows
   (cybermesh/ledger/project.py rule 3). Keys are scanned in byte order, in batches; a page
   may hold fewer than `limit` items when filters drop rows, and `next` is then still set
   while the scan budget ran out before the end of the range.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from sqlalchemy import and_, create_engine, func, or_, select
from sqlalchemy.engine import Connection, Engine, make_url

from cybermesh.ledger.project import STATUS_CODES
from cybermesh.proto.v1 import ai_pb2, block_pb2
from cybermesh.state import records as srec
from cybermesh.storage import schema as t
from cybermesh.storage.engine import make_engine

T = TypeVar("T")
STATUS_NAMES: Final[dict[int, str]] = {code: name for name, code in sorted(STATUS_CODES.items(), reverse=True)} | {0: "applied"}
_REP, _QUAR = b"rep/", b"quarantine/"
SCAN_BATCH: Final = 256
SCAN_BUDGET: Final = 8
"""Batches of keys an entity page may scan before it returns a short page with `next`."""


def _upper(prefix: bytes) -> bytes:
    """The smallest byte string above every string starting with `prefix` (prefix ends < 0xff)."""
    return prefix[:-1] + bytes([prefix[-1] + 1])


@dataclass(frozen=True)
class EntityRow:
    entity_id: str
    raw_id: bytes
    reputation: int
    anomalies: int
    quarantined: bool
    height: int
    """Version of the newer of its two records (the last block that changed it)."""


def read_engine(url: str) -> Engine:
    """Rule 1."""
    if make_url(url).get_backend_name() == "sqlite":
        return create_engine(url, connect_args={"timeout": 5, "check_same_thread": False})
    return make_engine(url)


class ProjectionReader:
    def __init__(self, url: str, *, engine: Engine | None = None) -> None:
        self.engine = engine if engine is not None else read_engine(url)

    def close(self) -> None:
        self.engine.dispose()

    def _run(self, work: Callable[[Connection], T]) -> T:
        with self.engine.connect() as conn:
            return work(conn)

    # ------------------------------------------------------------------ blocks and txs
    def projected_height(self) -> int:
        """The highest projected height (0: nothing yet)."""
        return int(self._run(lambda c: c.execute(select(func.max(t.blocks.c.height))).scalar()) or 0)

    def height_of_block(self, block_hash: bytes) -> int | None:
        value = self._run(
            lambda c: c.execute(select(t.blocks.c.height).where(t.blocks.c.hash == block_hash)).scalar()
        )
        return None if value is None else int(value)

    def tx_positions(self, tx_id: str, producer_id: str | None, limit: int) -> list[tuple[int, int]]:
        """(height, index) of the committed txs whose message id is `tx_id`, oldest first."""
        tt = t.transactions
        query = select(tt.c.height, tt.c.idx).where(tt.c.tx_id_hash == t.id_hash(tx_id))
        if producer_id is not None:
            query = query.where(tt.c.producer_id == producer_id)
        rows = self._run(lambda c: c.execute(query.order_by(tt.c.height, tt.c.idx).limit(limit)).all())
        return [(int(r.height), int(r.idx)) for r in rows]

    # ------------------------------------------------------------------ evidence, policies
    def evidence_page(self, before: tuple[int, int] | None, limit: int) -> list[dict[str, Any]]:
        """Evidence decisions newest first, strictly before (height, tx_index) `before`."""
        ev = t.evidence
        query = select(ev)
        if before is not None:
            h, i = before
            query = query.where(or_(ev.c.height < h, and_(ev.c.height == h, ev.c.tx_index < i)))
        query = query.order_by(ev.c.height.desc(), ev.c.tx_index.desc()).limit(limit)
        return [_evidence(r) for r in self._run(lambda c: c.execute(query).all())]

    def evidence_by_id(self, evidence_id: str) -> list[dict[str, Any]]:
        ev = t.evidence
        query = (select(ev).where(ev.c.evidence_id_hash == t.id_hash(evidence_id))
                 .order_by(ev.c.height, ev.c.tx_index).limit(100))  # fmt: skip
        return [_evidence(r) for r in self._run(lambda c: c.execute(query).all())]

    def policy_txs(self, limit: int) -> list[dict[str, Any]]:
        """The newest `limit` committed policy transactions with their receipt status."""
        tt = t.transactions
        query = (select(tt.c.height, tt.c.idx, tt.c.producer_id, tt.c.tx_id, tt.c.status, tt.c.raw)
                 .where(tt.c.kind == block_pb2.TX_KIND_POLICY)
                 .order_by(tt.c.height.desc(), tt.c.idx.desc()).limit(limit))  # fmt: skip
        out = []
        for r in self._run(lambda c: c.execute(query).all()):
            msg = ai_pb2.Policy.FromString(bytes(r.raw))
            out.append({
                "policy_id": r.tx_id, "producer_id": r.producer_id, "action": int(msg.action),
                "rule": msg.rule, "status": STATUS_NAMES.get(int(r.status), f"code:{int(r.status)}"),
                "height": int(r.height), "index": int(r.idx),
            })  # fmt: skip
        return out

    # ------------------------------------------------------------------ entities (rule 3)
    def _latest(self, c: Connection, lo: bytes, hi: bytes, limit: int) -> list[tuple[bytes, int, bytes | None]]:
        """(key, version, value) of the latest version of up to `limit` keys in (lo, hi)."""
        kv = t.state_kv
        latest = (select(kv.c.key, func.max(kv.c.version).label("v"))
                  .where(kv.c.key > lo, kv.c.key < hi).group_by(kv.c.key)
                  .order_by(kv.c.key).limit(limit).subquery())  # fmt: skip
        query = (select(kv.c.key, kv.c.version, kv.c.value)
                 .join(latest, and_(kv.c.key == latest.c.key, kv.c.version == latest.c.v))
                 .order_by(kv.c.key))  # fmt: skip
        return [(bytes(r.key), int(r.version), None if r.value is None else bytes(r.value))
                for r in c.execute(query).all()]  # fmt: skip

    def _values(self, c: Connection, keys: list[bytes]) -> dict[bytes, tuple[int, bytes | None]]:
        """Latest (version, value) of each key that has one."""
        if not keys:
            return {}
        kv = t.state_kv
        latest = (select(kv.c.key, func.max(kv.c.version).label("v"))
                  .where(kv.c.key.in_(keys)).group_by(kv.c.key).subquery())  # fmt: skip
        query = select(kv.c.key, kv.c.version, kv.c.value).join(
            latest, and_(kv.c.key == latest.c.key, kv.c.version == latest.c.v))
        return {bytes(r.key): (int(r.version), None if r.value is None else bytes(r.value))
                for r in c.execute(query).all()}  # fmt: skip

    def entities_page(
        self, after: bytes | None, limit: int, *, quarantined: bool | None, min_reputation: int | None
    ) -> tuple[list[EntityRow], bytes | None]:
        """A page of entities by id bytes after `after`, and the cursor of the next page."""
        scan, other = (_QUAR, _REP) if quarantined else (_REP, _QUAR)

        def work(c: Connection) -> tuple[list[EntityRow], bytes | None]:
            items: list[EntityRow] = []
            lo = scan + (after or b"")
            for _ in range(SCAN_BUDGET):
                batch = self._latest(c, lo, _upper(scan), SCAN_BATCH)
                live = [(k, v, val) for k, v, val in batch if val is not None]
                others = self._values(c, [other + k[len(scan):] for k, _, _ in live])
                for key, version, value in live:
                    raw_id = key[len(scan):]
                    ov, oval = others.get(other + raw_id, (0, None))
                    row = _entity_row(raw_id, scan, value, version, oval, ov)
                    if row is None or (quarantined is not None and row.quarantined != quarantined):
                        continue
                    if min_reputation is not None and row.reputation < min_reputation:
                        continue
                    items.append(row)
                    if len(items) == limit:
                        return items, raw_id
                if len(batch) < SCAN_BATCH:
                    return items, None
                lo = batch[-1][0]
            return items, lo[len(scan):]

        return self._run(work)


def _entity_row(raw_id: bytes, scan: bytes, value: bytes, version: int,
                other: bytes | None, other_version: int) -> EntityRow | None:
    rep_raw, q_raw = (value, other) if scan == _REP else (other, value)
    try:
        entity_id = raw_id.decode("utf-8")
        rep = srec.Reputation.decode(rep_raw) if rep_raw is not None else None
    except (UnicodeDecodeError, srec.CodecError):
        return None
    return EntityRow(entity_id, raw_id, rep.score if rep else 0, rep.anomalies if rep else 0,
                     q_raw is not None, max(version, other_version))


def _evidence(r: Any) -> dict[str, Any]:
    return {
        "evidence_id": r.evidence_id, "height": int(r.height), "tx_index": int(r.tx_index),
        "producer_id": r.producer_id, "status": r.status, "action": r.action, "refs": json.loads(r.refs),
    }  # fmt: skip
