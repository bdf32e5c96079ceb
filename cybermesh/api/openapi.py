"""The OpenAPI 3.1 document of `/api/v1` (pure data; served at /api/v1/openapi.json).

Rules:
1. Paths are exactly the `routes.ROUTES` entries under /api/v1 (aiohttp `{name}` patterns are
   OpenAPI path templates already); `operationId` is the route name; the route's permission
   is the extension `x-permission`.
2. Every operation documents its 200 body and the error statuses it can answer with
   (400 for operations with parameters, 404 for lookups, 503 when a node part is not ready),
   all errors with the one `Error` schema.
3. Schemas describe what the handlers produce (tests validate live answers against them).
"""

from __future__ import annotations

from typing import Any, Final

from cybermesh.api.auth.openapi import secure
from cybermesh.api.params import MAX_CURSOR_BYTES, MAX_ID_CHARS, MAX_LIMIT
from cybermesh.api.routes import ROUTES

S = dict[str, Any]


def _ref(name: str) -> S:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(props: S, required: list[str] | None = None) -> S:
    return {"type": "object", "properties": props, "required": list(props) if required is None else required}


def _null(schema: S) -> S:
    return {"anyOf": [schema, {"type": "null"}]}


INT: Final[S] = {"type": "integer"}
STR: Final[S] = {"type": "string"}
BOOL: Final[S] = {"type": "boolean"}
HEX: Final[S] = {"type": "string", "pattern": "^([0-9a-f]{2})*$"}
HASH: Final[S] = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
KEY_IN: Final[S] = {"type": "string", "pattern": "^([0-9a-fA-F]{2})+$", "maxLength": 4096}
CURSOR_IN: Final[S] = {"type": "string", "pattern": "^([0-9a-fA-F]{2})+$", "maxLength": 2 * MAX_CURSOR_BYTES}
HASH_IN: Final[S] = {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}


def _page(item: str) -> S:
    return _obj({"items": {"type": "array", "items": _ref(item)}, "next": _null(STR)})


SCHEMAS: Final[dict[str, S]] = {
    "Error": _obj({"error": _obj({"code": {"type": "string", "enum": [
        "bad_parameter", "not_found", "not_ready", "method_not_allowed", "internal"]},
        "message": STR, "parameter": STR}, ["code", "message"])}),
    "Health": _obj({"status": {"const": "ok"}, "validator_id": STR, "version": STR}),
    "Check": _obj({"ok": BOOL, "detail": STR}),
    "Ready": _obj({"ready": BOOL, "checks": _obj({"broker": _ref("Check"), "consensus": _ref("Check"),
                                                  "projection": _ref("Check")})}),
    "OpenApi": {"type": "object", "required": ["openapi", "paths"]},
    "QC": _obj({
        "round": INT, "height": INT, "block_hash": HASH, "parent_hash": HEX, "parent_round": INT,
        "signers": {"type": "array", "items": STR}, "bitmap": {"type": "string", "pattern": "^[01]*$"},
        "signatures": {"type": "array", "items": _obj({"validator_id": STR, "signature": HEX})},
    }),
    "Block": _obj({
        "height": INT, "hash": HASH, "parent_hash": HASH, "round": INT, "proposer": STR, "chain_id": STR,
        "timestamp": INT, "tx_root": HEX, "state_root_hint": HEX, "state_root_height": INT,
        "state_root": _null(HASH), "tx_count": INT, "txs": {"type": "array", "items": HASH},
        "qc": _null(_ref("QC")), "commit_qc": _null(_ref("QC")),
    }),
    "BlockPage": _page("Block"),
    "Tx": _obj({
        "hash": HASH, "height": INT, "index": INT, "kind": STR, "topic": _null(STR), "status": _null(STR),
        "detail": STR, "size": INT, "producer_id": _null(STR), "id": _null(STR), "nonce": _null(INT),
        "nonce_str": _null(STR), "ts": _null(INT), "message": _null({"type": "object"}),
    }),
    "TxPage": _page("Tx"),
    "StateRoot": _obj({"height": INT, "root": HASH}),
    "Proof": _obj({"siblings": {"type": "array", "items": HASH, "maxItems": 256},
                   "leaf": _null(_obj({"key_hash": HASH, "value_hash": HASH})), "encoded": HEX}),
    "StateProof": _obj({"height": INT, "root": HASH, "key": HEX, "present": BOOL, "value": _null(HEX),
                        "proof": _ref("Proof"), "record": _null({"type": "object"})}),
    "Entity": _obj({"entity_id": STR, "reputation": INT, "anomalies": INT, "quarantined": BOOL, "height": INT}),
    "EntityPage": _page("Entity"),
    "EntityDetail": _obj({
        "entity_id": STR, "height": INT, "reputation": INT, "anomalies": INT, "updated_height": _null(INT),
        "quarantined": BOOL, "quarantine": _null(_obj({"since_height": INT, "reason": STR})),
    }),
    "Evidence": _obj({"evidence_id": STR, "height": INT, "tx_index": INT, "producer_id": STR, "status": STR,
                      "action": STR, "refs": {"type": "array", "items": STR}}),
    "EvidencePage": _page("Evidence"),
    "EvidenceDetail": _obj({
        "evidence_id": STR, "producer_id": STR, "status": STR, "applied": INT, "height": INT, "index": INT,
        "action": _null(STR), "refs": _null({"type": "array", "items": STR}),
    }),
    "Policies": _obj({
        "height": INT, "params": {"type": "object", "additionalProperties": INT},
        "items": {"type": "array", "items": _obj({"policy_id": STR, "producer_id": STR, "action": INT,
                                                  "rule": STR, "status": STR, "height": INT, "index": INT})},
    }),
    "Validator": _obj({
        "id": STR, "consensus_pubkey": HEX, "node_pubkey": HEX, "address": STR, "peer_id": STR, "self": BOOL,
        "connected": BOOL, "live": BOOL,
        "last_seen": _null(_obj({"kind": STR, "round": INT, "at_ms": INT})), "last_signed_round": _null(INT),
    }),
    "Validators": _obj({"items": {"type": "array", "items": _ref("Validator")}, "n": INT, "f": INT, "quorum": INT}),
    "Consensus": _obj({
        "validator_id": STR, "round": INT, "leader": STR, "high_qc": _null(_ref("QC")),
        "last_tc_round": _null(INT), "committed_height": INT,
        "last_commit": _null(_obj({"height": INT, "hash": HASH, "round": INT, "timestamp": INT})),
        "view_changes": INT, "qcs": INT, "tcs": INT, "proposals": INT, "n": INT, "f": INT, "quorum": INT,
    }),
    "Mempool": _obj({
        "ready": BOOL, "count": INT, "bytes": INT,
        "caps": _obj({"max_txs": INT, "max_bytes": INT, "max_age_ms": INT}),
        "by_kind": {"type": "object", "additionalProperties": INT},
        "top": {"type": "array", "items": _obj({"tx_hash": HASH, "kind": STR, "size": INT, "score": INT,
                                                "ts": INT, "admitted_ms": INT})},
    }),
    "Dlq": _obj({
        "total": INT, "by_topic": {"type": "object", "additionalProperties": INT},
        "by_reason": {"type": "object", "additionalProperties": INT},
        "items": {"type": "array", "items": _obj({"topic": STR, "reason": STR, "count": INT})},
    }),
}

LIMIT: Final[S] = {"name": "limit", "in": "query", "required": False,
                   "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 20}}  # fmt: skip


def _path(name: str, schema: S) -> S:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _query(name: str, schema: S, required: bool = False) -> S:
    return {"name": name, "in": "query", "required": required, "schema": schema}


I64: Final[S] = {"type": "integer", "minimum": -(2**63 - 1), "maximum": 2**63 - 1}
HEIGHT: Final[S] = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
ID: Final[S] = {"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS}

# operation id -> (200 schema, parameters, extra error statuses)
OPERATIONS: Final[dict[str, tuple[str, list[S], tuple[int, ...]]]] = {
    "health": ("Health", [], ()),
    "ready": ("Ready", [], (503,)),
    "openapi": ("OpenApi", [], ()),
    "blocks": ("BlockPage", [LIMIT, _query("before", HEIGHT)], (503,)),
    "block_latest": ("Block", [], (404, 503)),
    "block_by_hash": ("Block", [_path("block_hash", HASH_IN)], (404, 503)),
    "block_by_height": ("Block", [_path("height", HEIGHT)], (404, 503)),
    "txs_by_id": ("TxPage", [_query("id", ID, True), _query("producer_id", ID), LIMIT], (503,)),
    "tx_by_hash": ("Tx", [_path("tx_hash", HASH_IN)], (404, 503)),
    "state_root": ("StateRoot", [], (503,)),
    "state_key": ("StateProof", [_path("key", KEY_IN)], (404, 503)),
    "entities": ("EntityPage", [_query("quarantined", BOOL), _query("min_reputation", I64), LIMIT,
                                _query("cursor", CURSOR_IN)], (503,)),
    "entity": ("EntityDetail", [_path("entity_id", ID)], (404, 503)),
    "evidence_list": ("EvidencePage", [LIMIT, _query("cursor", {"type": "string", "pattern": "^[0-9]{1,19}\\.[0-9]{1,9}$"})],
                      (503,)),
    "evidence": ("EvidenceDetail", [_path("evidence_id", ID)], (404, 503)),
    "policies": ("Policies", [], (503,)),
    "validators": ("Validators", [], (503,)),
    "consensus": ("Consensus", [], (503,)),
    "mempool": ("Mempool", [LIMIT], ()),
    "dlq": ("Dlq", [], ()),
}  # fmt: skip

_ERRORS: Final = {400: "malformed parameter", 404: "not found", 503: "node part not ready"}


def _operation(name: str, summary: str, permission: str) -> S:
    body, params, errors = OPERATIONS[name]
    responses: S = {"200": {"description": "OK", "content": {"application/json": {"schema": _ref(body)}}}}
    if name == "ready":
        responses["503"] = {"description": "not ready", "content": {"application/json": {"schema": _ref("Ready")}}}
    codes = sorted({*errors, *((400,) if params else ())} - ({503} if name == "ready" else set()))
    if name == "state_key":
        responses["404"] = {"description": "absent key: the error and the non-inclusion proof",
                            "content": {"application/json": {"schema": {"allOf": [_ref("Error"), _ref("StateProof")]}}}}
        codes.remove(404)
    for code in codes:
        responses[str(code)] = {"description": _ERRORS[code],
                                "content": {"application/json": {"schema": _ref("Error")}}}  # fmt: skip
    return {"operationId": name, "summary": summary, "x-permission": permission, "parameters": params,
            "responses": responses}  # fmt: skip


def document() -> S:
    """Rules 1-3."""
    paths: S = {}
    for route in ROUTES:
        if route.in_openapi:
            paths.setdefault(route.path, {})[route.method.lower()] = _operation(
                route.name, route.summary, route.permission)
    return secure({  # security schemes, 401/403/429 (cybermesh/api/auth/openapi.py)
        "openapi": "3.1.0",
        "info": {"title": "CyberMesh validator read API", "version": "1.0.0",
                 "description": "Read-only views of one validator (docs/API.md)."},
        "paths": paths,
        "components": {"schemas": SCHEMAS},
    })
