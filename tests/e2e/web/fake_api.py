"""A stand-in for /api/v1 (docs/API.md shapes) on the worker's own web app, for browser tests
of the page alone: real Merkle proofs from a VersionedTree, a height that advances on every
/consensus call, bearer tokens with roles, and switches for 401/403/429 and a tampered proof.
Test-only: the real API is cybermesh/api (branch `api`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from cybermesh.state import MemoryNodeStore, VersionedTree

VALIDATORS = ["v0", "v1", "v2", "v3"]
EVIL = '<img src=x onerror="window.pwned=1">'
ENTITIES = {"host-1": -4200, "host-2": -6100, EVIL: -100}
TOKENS = {"admin-token": "admin", "viewer-token": "viewer"}
OPS_PATHS = ("/api/v1/mempool", "/api/v1/dlq")


def h(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def qc(height: int, rnd: int, bitmap: str) -> dict[str, Any]:
    signers = [v for v, b in zip(VALIDATORS, bitmap, strict=True) if b == "1"]
    return {"round": rnd, "height": height, "block_hash": h("block", height), "parent_hash": h("block", height - 1),
            "parent_round": rnd - 1, "signers": signers, "bitmap": bitmap,
            "signatures": [{"validator_id": v, "signature": "ab" * 64} for v in signers]}  # fmt: skip


@dataclass
class FakeApi:
    height: int = 5
    rate_limited: bool = False
    tamper_root: bool = False
    hint_skips: bool = False
    """Every block's state root hint is for a later height than its own: none carries the root
    the proofs are at (as when proposers' hints skip a height)."""
    requests: list[tuple[str, str | None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tree = VersionedTree(MemoryNodeStore())
        changes = [(f"rep/{e}".encode(), score.to_bytes(8, "big", signed=True)) for e, score in ENTITIES.items()]
        self.tree.apply(0, sorted(changes))

    def block(self, height: int) -> dict[str, Any]:
        txs = [h("tx", height, i) for i in range(3)]
        return {"height": height, "hash": h("block", height), "parent_hash": h("block", height - 1),
                "round": height + 1, "proposer": VALIDATORS[height % 4], "chain_id": "cybermesh-test",
                "timestamp": 1764100000000 + height * 1000, "tx_root": h("txroot", height),
                "state_root_hint": h("root", height - 1), "state_root_height": height + 1 if self.hint_skips else height - 1,
                "state_root": self.tree.root(0).hex(), "tx_count": len(txs), "txs": txs,
                "qc": qc(height, height + 1, "1101"), "commit_qc": qc(height + 1, height + 2, "1111")}  # fmt: skip

    def install(self, router: web.UrlDispatcher) -> None:
        for path, handler in [
            ("/api/v1/consensus", self.consensus), ("/api/v1/blocks", self.blocks),
            ("/api/v1/blocks/{height}", self.block_view), ("/api/v1/txs/{tx_hash}", self.tx),
            ("/api/v1/mempool", self.mempool), ("/api/v1/validators", self.validators),
            ("/api/v1/entities", self.entities), ("/api/v1/evidence", self.evidence),
            ("/api/v1/dlq", self.dlq), ("/api/v1/state/root", self.state_root),
            ("/api/v1/state/keys/{key}", self.state_key),
        ]:  # fmt: skip
            router.add_get(path, self.guard(handler))

    def guard(self, handler: Any) -> Any:
        """Bearer tokens: none or unknown -> 401; viewer on ops paths -> 403; switch -> 429."""

        async def run(request: web.Request) -> web.StreamResponse:
            auth = request.headers.get("Authorization", "")
            token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
            self.requests.append((request.path, token))
            if self.rate_limited:
                return web.json_response({"error": {"code": "rate_limited", "message": "too many requests"}},
                                         status=429, headers={"Retry-After": "2"})  # fmt: skip
            role = TOKENS.get(token or "")
            if role is None:
                return web.json_response({"error": {"code": "unauthorized", "message": "missing or invalid token"}}, status=401)
            if role == "viewer" and request.path in OPS_PATHS:
                return web.json_response({"error": {"code": "forbidden", "message": "role viewer lacks ops"}}, status=403)
            answer = await handler(request)
            if isinstance(answer, tuple):
                return web.json_response(answer[1], status=answer[0])
            return web.json_response(answer)

        return run

    async def consensus(self, request: web.Request) -> Any:
        self.height += 1
        return {"validator_id": "v0", "round": self.height + 2, "leader": "v1", "high_qc": qc(self.height, self.height + 1, "1111"),
                "last_tc_round": None, "committed_height": self.height,
                "last_commit": {"height": self.height, "hash": h("block", self.height), "round": self.height + 1, "timestamp": 1764100000000},
                "view_changes": 0, "qcs": self.height, "tcs": 0, "proposals": 2, "n": 4, "f": 1, "quorum": 3}  # fmt: skip

    async def blocks(self, request: web.Request) -> Any:
        limit = int(request.query.get("limit", "20"))
        top = self.height
        return {"items": [self.block(x) for x in range(top, max(0, top - limit), -1)], "next": None}

    async def block_view(self, request: web.Request) -> Any:
        height = int(request.match_info["height"])
        if not 1 <= height <= self.height:
            raise web.HTTPNotFound()
        return self.block(height)

    async def tx(self, request: web.Request) -> Any:
        tx_hash = request.match_info["tx_hash"]
        return {"hash": tx_hash, "height": 1, "index": 0, "kind": "anomaly", "topic": "ai.anomalies.v1", "status": "applied",
                "detail": "", "producer_id": "load-0", "id": f"a-{tx_hash[:6]}", "nonce": 1, "nonce_str": "1",
                "ts": 1764100000000, "size": 200, "message": {}}  # fmt: skip

    async def mempool(self, request: web.Request) -> Any:
        return {"ready": True, "count": 2, "bytes": 400, "caps": {"max_txs": 100000, "max_bytes": 1 << 26, "max_age_ms": 60000},
                "by_kind": {"anomaly": 2},
                "top": [{"tx_hash": h("pending", i), "kind": "anomaly", "size": 200, "score": 10 - i, "ts": 1764100000000,
                         "admitted_ms": 1764100000000} for i in range(2)]}  # fmt: skip

    async def validators(self, request: web.Request) -> Any:
        items = [{"id": v, "consensus_pubkey": h("ck", v), "node_pubkey": h("nk", v), "address": f"/ip4/127.0.0.1/tcp/{48100 + i}",
                  "peer_id": f"12D3KooW{v}", "self": i == 0, "connected": i != 3, "live": i != 3,
                  "last_seen": None if i == 3 else {"kind": "vote", "round": self.height, "at_ms": 1764100000000},
                  "last_signed_round": self.height} for i, v in enumerate(VALIDATORS)]  # fmt: skip
        return {"items": items, "quorum": 3, "f": 1}

    async def entities(self, request: web.Request) -> Any:
        quarantined_only = request.query.get("quarantined") == "true"
        items = [{"entity_id": e, "entity_key": hashlib.sha256(e.encode()).hexdigest(), "reputation": s,
                  "quarantined": s <= -5000, "height": 3} for e, s in ENTITIES.items()]  # fmt: skip
        return {"items": [i for i in items if i["quarantined"] or not quarantined_only], "next": None}

    async def evidence(self, request: web.Request) -> Any:
        return {"items": [{"evidence_id": "ev-1", "height": 4, "tx_index": 0, "producer_id": "load-0", "status": "accepted",
                           "action": "penalize 1", "refs": ["a-1"]}], "next": None}  # fmt: skip

    async def dlq(self, request: web.Request) -> Any:
        return {"total": 7, "by_topic": {"ai.anomalies.v1": 7}, "by_reason": {"bad_signature": 4, "replay": 3},
                "items": [{"topic": "ai.anomalies.v1", "reason": "bad_signature", "count": 4},
                          {"topic": "ai.anomalies.v1", "reason": "replay", "count": 3}]}  # fmt: skip

    async def state_root(self, request: web.Request) -> Any:
        return {"height": self.height, "root": self.tree.root(0).hex()}

    async def state_key(self, request: web.Request) -> Any:
        key = bytes.fromhex(request.match_info["key"])
        value = self.tree.get(key, 0)
        proof = self.tree.prove(key, 0)
        root = self.tree.root(0)
        if self.tamper_root:  # a lying server: the proof does not lead to the root it states
            root = bytes([root[0] ^ 1]) + root[1:]
        body = {"height": self.height, "root": root.hex(), "key": key.hex(), "present": value is not None,
                "value": None if value is None else value.hex(),
                "proof": {"siblings": [s.hex() for s in proof.siblings],
                          "leaf": None if proof.leaf is None else {"key_hash": proof.leaf[0].hex(), "value_hash": proof.leaf[1].hex()},
                          "encoded": proof.encode().hex()},
                "record": None}  # fmt: skip
        if value is None:  # as the real API: 404, with the non-inclusion proof beside the error
            return 404, {"error": {"code": "not_found", "message": "no state key"}, **body}
        return body

