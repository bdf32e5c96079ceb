"""The read-only API `/api/v1` on the validator's Faust web server (aiohttp glue; docs/API.md).

`register_api(app, node)` adds one aiohttp route per `routes.ROUTES` entry under `/api/v1`
(plain aiohttp handlers on `app.web.web_app`, so an aiohttp middleware sees them) and the
middleware `api_errors`, which turns the router's own 404 / 405 for a path under `/api/v1/`
into the JSON error shape (routes added later, e.g. by the web view, are not shadowed).

Rules:
1. Answers come from this validator's RocksDB stores (ledger of committed blocks with their
   certificates, versioned Merkle state) and its SQL projection; never from a Kafka scan.
2. RocksDB reads run on the event loop, without an await in between, so one answer sees one
   committed height (the commit path also runs on this loop). SQL reads run in a worker
   thread (`asyncio.to_thread`).
3. Errors: `BadParameter` -> 400, `NotFound` -> 404, `NotReady` -> 503, anything else -> 500
   with a message that carries no internals (logged with its traceback); all in the shape
   `{"error": {"code", "message"[, "parameter"]}}`.
4. Pure parsing lives in `params.py`, JSON shapes in `format.py`, SQL in `reader.py`.
5. Encoded answers are cached (`cache.AnswerCache`) under (path with query, version): the
   committed height for ledger/state answers, the projected height for projection answers,
   nothing for immutable ones (a committed block or tx by height/hash: 200s only), a 250 ms
   time bucket for live views (mempool, DLQ, validators, consensus). Errors other than a 404
   at a version are never cached.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Final

from aiohttp import web

from cybermesh.api import format as fmt
from cybermesh.api import openapi
from cybermesh.api.cache import AnswerCache
from cybermesh.api.params import (
    BadParameter,
    NotFound,
    NotReady,
    parse_bool,
    parse_entity_cursor,
    parse_evidence_cursor,
    parse_hash,
    parse_height,
    parse_hex,
    parse_int,
    parse_limit,
    parse_text_id,
)
from cybermesh.api.reader import ProjectionReader
from cybermesh.api.routes import PREFIX, ROUTES
from cybermesh.block.hashing import block_hash
from cybermesh.mempool.pool import Limits
from cybermesh.node.outputs import decode_outputs
from cybermesh.state import records as srec
from cybermesh.state.params import PARAMS

log = logging.getLogger(__name__)
Body = dict[str, Any]
Handler = Callable[[web.Request], Awaitable[Body | tuple[int, Body]]]

LIVE_PEER_MS: Final = 10_000
"""A peer is live when connected and heard from within this many ms."""
STALE_COMMIT_MS: Final = 30_000
"""Consensus is not ready when the last commit is older than this (idle networks commit empty blocks)."""
MAX_LAG: Final = 1_000
"""Broker / projection not ready when the emitter / projector is this many blocks behind."""
VERSION: Final = "1"
MAX_KEY_BYTES: Final = 2048
"""Longest state key accepted in a path (4096 hex digits: within aiohttp's 8190-byte request line)."""


def _json(status: int, body: Body) -> web.Response:
    return web.Response(status=status, body=json.dumps(body, separators=(",", ":")).encode(),
                        content_type="application/json")


def _error(status: int, code: str, message: str, parameter: str | None = None) -> web.Response:
    return _json(status, fmt.error_json(code, message, parameter))


def wrap(
    fn: Handler,
    cache: AnswerCache | None = None,
    version: Callable[[], Hashable | None] | None = None,
    *,
    only_ok: bool = False,
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Rule 3, and rule 5 when `cache` and `version` are given (`only_ok`: cache 200s only)."""

    async def handle(request: web.Request) -> web.Response:
        key = None
        if cache is not None and version is not None:
            ver = version()
            if ver is not None:
                key = (request.path_qs, ver)
                hit = cache.get(key)
                if hit is not None:
                    return web.Response(status=hit[0], body=hit[1], content_type="application/json")
        try:
            out = await fn(request)
        except BadParameter as exc:
            return _error(400, "bad_parameter", str(exc), exc.name)
        except NotFound as exc:
            return _error(404, "not_found", str(exc))
        except NotReady as exc:
            return _error(503, "not_ready", str(exc))
        except Exception:
            log.exception("api %s %s failed", request.method, request.path)
            return _error(500, "internal", "internal error (logged by the validator)")
        status, body = out if isinstance(out, tuple) else (200, out)
        raw = json.dumps(body, separators=(",", ":")).encode()
        if key is not None and cache is not None and (status == 200 or (status == 404 and not only_ok)):
            cache.put(key, status, raw)
        return web.Response(status=status, body=raw, content_type="application/json")

    handle.__name__ = fn.__name__
    return handle


class Api:
    """Handlers of the route table (operation id = method name)."""

    def __init__(self, node: Any) -> None:
        self.node = node
        self.genesis = node.genesis
        self.validator_ids = [v.id for v in node.genesis.validators]
        self._reader: ProjectionReader | None = None
        self._openapi: Body | None = None
        self.cache: AnswerCache | None = None

    # ------------------------------------------------------------------ access to the node
    def _validator(self) -> Any:
        v = self.node.validator
        if v is None or v.pipeline is None or v.store is None or v.ledger is None:
            raise NotReady("consensus is not running on this node (state and ledger not open)")
        return v

    def _reader_or_none(self) -> ProjectionReader | None:
        s = self.node.settings
        if not (s.consensus.enabled and s.consensus.project):
            return None
        if self._reader is None:
            self._reader = ProjectionReader(s.db_url)
        return self._reader

    def reader(self) -> ProjectionReader:
        r = self._reader_or_none()
        if r is None:
            raise NotReady("the SQL projection is disabled on this node (consensus.project = false)")
        return r

    async def _sql(self, work: Callable[[ProjectionReader], Any]) -> Any:
        reader = self.reader()
        try:
            return await asyncio.to_thread(work, reader)
        except (BadParameter, NotFound):
            raise
        except Exception as exc:
            from sqlalchemy.exc import OperationalError

            if isinstance(exc, OperationalError):
                raise NotReady("the SQL projection database is unavailable") from exc
            raise

    # ------------------------------------------------------------------ cache versions (rule 5)
    def committed_version(self) -> Hashable | None:
        v = self.node.validator
        return None if v is None or v.pipeline is None else int(v.pipeline.machine.height)

    def state_version(self) -> Hashable | None:
        v = self.node.validator
        return None if v is None or v.store is None else v.store.tree.latest

    def projection_version(self) -> Hashable | None:
        v = self.node.validator
        return None if v is None or v.projector is None else int(v.projector.height)

    def state_projection_version(self) -> Hashable | None:
        s, p = self.state_version(), self.projection_version()
        return None if s is None else (s, p)

    def live_version(self) -> Hashable | None:
        return int(time.monotonic() * 4)

    def immutable_version(self) -> Hashable | None:
        return 0

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()

    # ------------------------------------------------------------------ public
    async def health(self, request: web.Request) -> Body:
        return {"status": "ok", "validator_id": self.node.settings.validator_id, "version": VERSION}

    async def ready(self, request: web.Request) -> tuple[int, Body]:
        checks = {"broker": self._check_broker(), "consensus": self._check_consensus(),
                  "projection": self._check_projection()}  # fmt: skip
        ok = all(c["ok"] for c in checks.values())
        return (200 if ok else 503), {"ready": ok, "checks": checks}

    def _check_broker(self) -> Body:
        if not self.node.mempool.ready:
            return {"ok": False, "detail": "mempool table not recovered (no partitions assigned by the broker yet)"}
        v = self.node.validator
        if v is None:
            return {"ok": True, "detail": "ingest joined its group (consensus disabled)"}
        if v.emitter is None or v.emitter.producer is None or v.ledger is None:
            return {"ok": False, "detail": "emitter not started"}
        lag = v.ledger.top - v.ledger.emitted
        if lag > MAX_LAG:
            return {"ok": False, "detail": f"emitter {lag} blocks behind (broker unreachable?)"}
        return {"ok": True, "detail": f"ingest joined; emit lag {lag} blocks"}

    def _check_consensus(self) -> Body:
        v = self.node.validator
        if v is None:
            return {"ok": False, "detail": "consensus disabled"}
        if v.replica is None or v.p2p is None or v.pipeline is None:
            return {"ok": False, "detail": "consensus not started"}
        if v.p2p.driver is not None and v.p2p.driver._task is not None and v.p2p.driver._task.done():
            return {"ok": False, "detail": "consensus driver stopped"}
        height = v.pipeline.machine.height
        if height == 0:
            return {"ok": False, "detail": "no block committed yet"}
        blk = v.ledger.block(height)
        age = time.time_ns() // 1_000_000 - (blk.block.header.timestamp if blk is not None else 0)
        if age > STALE_COMMIT_MS:
            return {"ok": False, "detail": f"last commit (height {height}) {age} ms ago"}
        return {"ok": True, "detail": f"height {height}, round {v.replica.round}"}

    def _check_projection(self) -> Body:
        s = self.node.settings
        v = self.node.validator
        if v is None or not s.consensus.project:
            return {"ok": True, "detail": "disabled"}
        p = v.projector
        if p is None:
            return {"ok": False, "detail": "projector not started"}
        if p.error is not None:
            return {"ok": False, "detail": "projector halted on an integrity alarm"}
        lag = v.pipeline.machine.height - p.height if v.pipeline is not None else 0
        if p.failures or lag > MAX_LAG:
            return {"ok": False, "detail": f"{lag} blocks behind, {p.failures} failed attempts"}
        return {"ok": True, "detail": f"projected height {p.height}"}

    async def openapi(self, request: web.Request) -> Body:
        if self._openapi is None:
            self._openapi = openapi.document()
        return self._openapi

    # ------------------------------------------------------------------ blocks
    def _block(self, v: Any, height: int) -> Body:
        committed = v.ledger.block(height) if 1 <= height <= v.pipeline.machine.height else None
        if committed is None:
            raise NotFound(f"no committed block at height {height}")
        tree = v.store.tree
        oldest = tree.oldest
        root = tree.root(height) if oldest is not None and oldest <= height <= (tree.latest or 0) else None
        return fmt.block_json(committed, block_hash(committed.block.header), self.validator_ids, root)

    async def blocks(self, request: web.Request) -> Body:
        q = request.query
        limit = parse_limit(q.get("limit"))
        before = parse_height("before", q["before"]) if "before" in q else None
        v = self._validator()
        top = v.pipeline.machine.height
        start = top if before is None else min(top, before - 1)
        heights = list(range(start, max(0, start - limit), -1))
        items = [self._block(v, h) for h in heights]
        nxt = str(heights[-1]) if heights and heights[-1] > 1 and len(heights) == limit else None
        return {"items": items, "next": nxt}

    async def block_latest(self, request: web.Request) -> Body:
        v = self._validator()
        height = v.pipeline.machine.height
        if height == 0:
            raise NotFound("no block committed yet")
        return self._block(v, height)

    async def block_by_height(self, request: web.Request) -> Body:
        height = parse_height("height", request.match_info["height"])
        return self._block(self._validator(), height)

    async def block_by_hash(self, request: web.Request) -> Body:
        wanted = parse_hash("block_hash", request.match_info["block_hash"])
        v = self._validator()
        # the newest block is often asked for before the projection has it
        top = v.pipeline.machine.height
        for h in range(top, max(0, top - 16), -1):
            blk = v.ledger.block(h)
            if blk is not None and block_hash(blk.block.header) == wanted:
                return self._block(v, h)
        height = await self._sql(lambda r: r.height_of_block(wanted))
        if height is None:
            raise NotFound(f"no committed block with hash {wanted.hex()}")
        return self._block(self._validator(), height)

    # ------------------------------------------------------------------ transactions
    def _tx(self, v: Any, height: int, index: int) -> Body:
        committed = v.ledger.block(height)
        if committed is None or index >= len(committed.block.txs):
            raise NotFound(f"no transaction at height {height} index {index}")
        raw = v.ledger.outputs(height)
        status, detail = None, ""
        if raw is not None:
            receipts = decode_outputs(raw).receipts
            if index < len(receipts):
                status, detail = receipts[index].status, receipts[index].detail
        return fmt.tx_json(committed.block.txs[index], height, index, status, detail)

    async def tx_by_hash(self, request: web.Request) -> Body:
        wanted = parse_hash("tx_hash", request.match_info["tx_hash"])
        v = self._validator()
        raw = v.store.tree.get(srec.tx_key(wanted))
        if raw is None:
            raise NotFound(f"no committed transaction with hash {wanted.hex()}")
        rec = srec.TxRecord.decode(raw)
        return self._tx(v, rec.height, rec.index)

    async def txs_by_id(self, request: web.Request) -> Body:
        q = request.query
        if "id" not in q:
            raise BadParameter("id", "required (the producer-chosen message id)")
        tx_id = parse_text_id("id", q["id"])
        producer = parse_text_id("producer_id", q["producer_id"]) if "producer_id" in q else None
        limit = parse_limit(q.get("limit"))
        positions = await self._sql(lambda r: r.tx_positions(tx_id, producer, limit))
        v = self._validator()
        return {"items": [self._tx(v, h, i) for h, i in positions], "next": None}

    # ------------------------------------------------------------------ state
    def _state_height(self, v: Any) -> int:
        latest = v.store.tree.latest
        if latest is None:
            raise NotReady("state is empty")
        return int(latest)

    async def state_root(self, request: web.Request) -> Body:
        v = self._validator()
        h = self._state_height(v)
        return {"height": h, "root": v.store.tree.root(h).hex()}

    async def state_key(self, request: web.Request) -> Body | tuple[int, Body]:
        key = parse_hex("key", request.match_info["key"], max_bytes=MAX_KEY_BYTES)
        if not key:
            raise BadParameter("key", "must not be empty")
        v = self._validator()
        tree = v.store.tree
        h = self._state_height(v)
        value = tree.get(key, h)
        body = {"height": h, "root": tree.root(h).hex(), "key": key.hex(), "present": value is not None,
                "value": fmt.hx(value), "proof": fmt.proof_json(tree.prove(key, h)),
                "record": fmt.record_json(value)}  # fmt: skip
        if value is None:
            # 404 like any unknown key, with the non-inclusion proof beside the error
            return 404, {**fmt.error_json("not_found", f"no state key {key.hex()[:128]} at height {h}"), **body}
        return body

    # ------------------------------------------------------------------ entities, evidence, policies
    async def entities(self, request: web.Request) -> Body:
        q = request.query
        limit = parse_limit(q.get("limit"))
        quarantined = parse_bool("quarantined", q.get("quarantined"))
        min_rep = parse_int("min_reputation", q["min_reputation"]) if "min_reputation" in q else None
        after = parse_entity_cursor(q.get("cursor"))
        rows, nxt = await self._sql(
            lambda r: r.entities_page(after, limit, quarantined=quarantined, min_reputation=min_rep))
        items = [{"entity_id": e.entity_id, "reputation": e.reputation, "anomalies": e.anomalies,
                  "quarantined": e.quarantined, "height": e.height} for e in rows]  # fmt: skip
        return {"items": items, "next": None if nxt is None else nxt.hex()}

    async def entity(self, request: web.Request) -> Body:
        entity_id = parse_text_id("entity_id", request.match_info["entity_id"])
        v = self._validator()
        tree = v.store.tree
        h = self._state_height(v)
        rep = tree.get(srec.reputation_key(entity_id), h)
        quar = tree.get(srec.quarantine_key(entity_id), h)
        if rep is None and quar is None:
            raise NotFound(f"no entity {entity_id[:128]!r} in the committed state")
        return fmt.entity_json(entity_id, h, rep, quar)

    async def evidence_list(self, request: web.Request) -> Body:
        q = request.query
        limit = parse_limit(q.get("limit"))
        before = parse_evidence_cursor(q.get("cursor"))
        items = await self._sql(lambda r: r.evidence_page(before, limit))
        last = items[-1] if len(items) == limit else None
        return {"items": items, "next": None if last is None else f"{last['height']}.{last['tx_index']}"}

    async def evidence(self, request: web.Request) -> Body:
        evidence_id = parse_text_id("evidence_id", request.match_info["evidence_id"])
        v = self._validator()
        raw = v.store.tree.get(srec.evidence_key(evidence_id))
        if raw is None:
            raise NotFound(f"no evidence {evidence_id[:128]!r} in the committed state")
        rec = srec.EvidenceRecord.decode(raw)
        out: Body = {"evidence_id": evidence_id, "producer_id": rec.producer_id, "status": rec.status,
                     "applied": rec.applied, "height": rec.height, "index": rec.index,
                     "action": None, "refs": None}  # fmt: skip
        if self._reader_or_none() is not None:
            rows = await self._sql(lambda r: r.evidence_by_id(evidence_id))
            for row in rows:
                if row["height"] == rec.height and row["tx_index"] == rec.index:
                    out.update(action=row["action"], refs=row["refs"])
        return out

    async def policies(self, request: web.Request) -> Body:
        v = self._validator()
        tree = v.store.tree
        h = self._state_height(v)
        params = {}
        for name, spec in sorted(PARAMS.items()):
            raw = tree.get(srec.param_key(name), h)
            params[name] = srec.Param.decode(raw).value if raw is not None else spec.default
        items = await self._sql(lambda r: r.policy_txs(100)) if self._reader_or_none() is not None else []
        return {"height": h, "params": params, "items": items}

    # ------------------------------------------------------------------ consensus and peers
    def _observed(self, v: Any) -> Any:
        driver = getattr(v.p2p, "driver", None) if v.p2p is not None else None
        return getattr(driver, "replica", None)

    async def validators(self, request: web.Request) -> Body:
        from cybermesh.p2p.peer_id import PeerId

        v = self._validator()
        me = self.node.settings.validator_id
        connected = set(v.p2p.transport.connected_peers()) if v.p2p is not None else set()
        seen = getattr(self._observed(v), "seen", {})
        signed = self._signed_rounds(v)
        now = time.time_ns() // 1_000_000
        items = []
        for val in self.genesis.validators:
            peer = PeerId.from_ed25519(val.node_pubkey)
            last = seen.get(val.id)
            is_self = val.id == me
            up = peer in connected
            items.append({
                "id": val.id, "consensus_pubkey": val.consensus_pubkey.hex(), "node_pubkey": val.node_pubkey.hex(),
                "address": val.address, "peer_id": str(peer), "self": is_self, "connected": up,
                "live": is_self or (up and last is not None and now - last[2] <= LIVE_PEER_MS),
                "last_seen": None if last is None else {"kind": last[0], "round": last[1], "at_ms": last[2]},
                "last_signed_round": signed.get(val.id),
            })  # fmt: skip
        return {"items": items, "n": len(items), "f": self.genesis.f, "quorum": self.genesis.quorum}

    def _signed_rounds(self, v: Any) -> dict[str, int]:
        """validator id -> round of the newest QC (high QC, last commit's QCs) it signed."""
        qcs = []
        if v.replica is not None:
            qcs.append(v.replica.high_qc)
        last = v.ledger.block(v.pipeline.machine.height)
        if last is not None:
            qcs += [last.qc, last.commit_qc]
        out: dict[str, int] = {}
        for qc in qcs:
            r = int(qc.vote_data.round)
            for s in qc.signatures:
                out[s.validator_id] = max(out.get(s.validator_id, 0), r)
        return out

    async def consensus(self, request: web.Request) -> Body:
        v = self._validator()
        rep = v.replica
        if rep is None:
            raise NotReady("consensus replica not started")
        height = v.pipeline.machine.height
        last = v.ledger.block(height) if height else None
        reg = self.node.registry

        def count(name: str) -> int:
            return int(reg.get_sample_value(name) or 0)

        tc = rep.last_tc
        return {
            "validator_id": self.node.settings.validator_id,
            "round": rep.round,
            "leader": rep.validators.leader(rep.round),
            "high_qc": fmt.qc_json(rep.high_qc, self.validator_ids),
            "last_tc_round": None if tc is None else int(tc.round),
            "committed_height": height,
            "last_commit": None if last is None else {
                "height": height, "hash": block_hash(last.block.header).hex(),
                "round": last.block.header.round, "timestamp": last.block.header.timestamp},
            "view_changes": count("cybermesh_view_changes_total"),
            "qcs": count("cybermesh_qc_total"),
            "tcs": count("cybermesh_tc_total"),
            "proposals": count("cybermesh_proposals_total"),
            "n": len(self.validator_ids), "f": self.genesis.f, "quorum": self.genesis.quorum,
        }  # fmt: skip

    # ------------------------------------------------------------------ ops
    async def mempool(self, request: web.Request) -> Body:
        limit = parse_limit(request.query.get("limit"))
        store = self.node.mempool
        pool = store.pool
        by_kind: dict[str, int] = {}
        for e in pool.entries():
            name = fmt.KIND_NAMES.get(e.kind, f"unknown:{e.kind}")
            by_kind[name] = by_kind.get(name, 0) + 1
        top = [{"tx_hash": e.tx_hash.hex(), "kind": fmt.KIND_NAMES.get(e.kind, f"unknown:{e.kind}"),
                "size": e.size, "score": e.score, "ts": e.ts, "admitted_ms": e.admitted_ms}
               for e in pool.select(Limits(limit, 1 << 62))]  # fmt: skip
        caps = pool.caps
        return {"ready": store.ready, "count": len(pool), "bytes": pool.total_bytes,
                "caps": {"max_txs": caps.max_txs, "max_bytes": caps.max_bytes, "max_age_ms": caps.max_age_ms},
                "by_kind": dict(sorted(by_kind.items())), "top": top}  # fmt: skip

    async def dlq(self, request: web.Request) -> Body:
        items = []
        for metric in self.node.registry.collect():
            if metric.name != "cybermesh_rejected":
                continue
            for sample in metric.samples:
                if sample.name == "cybermesh_rejected_total" and sample.value > 0:
                    items.append({"topic": sample.labels["topic"], "reason": sample.labels["reason"],
                                  "count": int(sample.value)})  # fmt: skip
        items.sort(key=lambda i: (i["topic"], i["reason"]))
        by_topic: dict[str, int] = {}
        by_reason: dict[str, int] = {}
        for i in items:
            by_topic[i["topic"]] = by_topic.get(i["topic"], 0) + i["count"]
            by_reason[i["reason"]] = by_reason.get(i["reason"], 0) + i["count"]
        return {"total": sum(by_topic.values()), "by_topic": by_topic, "by_reason": dict(sorted(by_reason.items())),
                "items": items}  # fmt: skip


API_KEY: Final = web.AppKey("cybermesh_api", Api)


@web.middleware
async def api_errors(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """The router's 404 (no route) and 405 (another method) under /api/v1/ as JSON errors."""
    try:
        return await handler(request)
    except web.HTTPMethodNotAllowed as exc:
        if not request.path.startswith(PREFIX + "/"):
            raise
        resp = _error(405, "method_not_allowed", f"{request.method} not allowed: the API is read-only (GET)")
        resp.headers["Allow"] = ", ".join(sorted(exc.allowed_methods))
        return resp
    except web.HTTPNotFound:
        if not request.path.startswith(PREFIX + "/"):
            raise
        return _error(404, "not_found", f"no API route {request.path[:200]!r}")


CACHING: Final[dict[str, tuple[str, bool]]] = {
    # operation -> (version method of Api, cache 200s only)
    "openapi": ("immutable_version", True),
    "blocks": ("committed_version", False),
    "block_latest": ("committed_version", False),
    "block_by_height": ("immutable_version", True),
    "block_by_hash": ("immutable_version", True),
    "tx_by_hash": ("immutable_version", True),
    "txs_by_id": ("projection_version", False),
    "state_root": ("state_version", False),
    "state_key": ("state_version", False),
    "entities": ("projection_version", False),
    "entity": ("state_version", False),
    "evidence_list": ("projection_version", False),
    "evidence": ("state_projection_version", False),
    "policies": ("state_projection_version", False),
    "validators": ("live_version", False),
    "consensus": ("live_version", False),
    "mempool": ("live_version", False),
    "dlq": ("live_version", False),
}
"""Rule 5 per operation; health and ready are never cached."""


def register_api(app: Any, node: Any, *, cache_bytes: int = 16 << 20) -> Api:
    """Add the `/api/v1` routes of `routes.ROUTES` to the Faust app's aiohttp application.

    `/metrics` and `/mempool/` stay with their own views (registered elsewhere); the returned
    `Api` is also stored as `web_app[API_KEY]`. `cache_bytes=0` turns the answer cache off.
    """
    api = Api(node)
    cache = AnswerCache(cache_bytes) if cache_bytes > 0 else None
    api.cache = cache
    web_app: web.Application = app.web.web_app
    router = web_app.router
    for route in ROUTES:
        if route.in_openapi:
            how = CACHING.get(route.name)
            handler = (wrap(getattr(api, route.name), cache, getattr(api, how[0]), only_ok=how[1])
                       if how is not None else wrap(getattr(api, route.name)))  # fmt: skip
            router.add_get(route.path, handler, name=route.name)
    web_app.middlewares.append(api_errors)
    web_app[API_KEY] = api
    return api
