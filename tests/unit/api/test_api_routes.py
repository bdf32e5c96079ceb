"""The route table, the OpenAPI document and the aiohttp registration stay in step.

Also the glue's error answers with a node whose consensus is not running (no services)."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace
from typing import Any

import jsonschema_rs
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from cybermesh.api import openapi
from cybermesh.api.routes import ROUTES, match, permission
from cybermesh.api.v1 import register_api
from cybermesh.mempool.pool import Caps, Mempool


def test_route_table_is_consistent() -> None:
    names = [r.name for r in ROUTES]
    assert len(names) == len(set(names))
    assert {r.permission for r in ROUTES} == {"public", "read", "ops"}
    assert all(r.method == "GET" for r in ROUTES)
    public = {r.name for r in ROUTES if r.permission == "public"}
    # the web view's page and files are public too (a page load carries no token; docs/WEB.md)
    assert public == {"health", "ready", "openapi", "web_redirect", "web_index", "web_static"}
    ops = {r.name for r in ROUTES if r.permission == "ops"}
    assert ops == {"mempool", "dlq", "metrics", "mempool_view"}


def test_match_resolves_like_aiohttp() -> None:
    assert match("GET", "/api/v1/blocks/latest").name == "block_latest"  # type: ignore[union-attr]
    assert match("GET", "/api/v1/blocks/12").name == "block_by_height"  # type: ignore[union-attr]
    assert match("GET", "/api/v1/blocks/hash/ab").name == "block_by_hash"  # type: ignore[union-attr]
    assert match("get", "/api/v1/state/keys/00").name == "state_key"  # type: ignore[union-attr]
    assert match("GET", "/api/v1/blocks/12/x") is None and match("POST", "/api/v1/blocks") is None
    assert permission("GET", "/metrics") == "ops" and permission("GET", "/api/v1/ready") == "public"
    assert permission("GET", "/api/v1/nope") is None


def test_openapi_document_lists_exactly_the_api_routes() -> None:
    doc = openapi.document()
    assert doc["openapi"].startswith("3.1")
    listed = {(path, method.upper()) for path, item in doc["paths"].items() for method in item}
    assert listed == {(r.path, r.method) for r in ROUTES if r.in_openapi}
    for r in ROUTES:
        if r.in_openapi:
            op = doc["paths"][r.path][r.method.lower()]
            assert op["operationId"] == r.name and op["x-permission"] == r.permission
            assert "200" in op["responses"]
    refs = set(re.findall(r'"#/components/schemas/(\w+)"', json.dumps(doc)))
    assert refs == set(doc["components"]["schemas"])  # every $ref resolves, no unused schema
    for name in refs:  # each schema is valid JSON Schema 2020-12
        jsonschema_rs.Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": doc["components"]})


def fake_node() -> Any:
    settings = SimpleNamespace(validator_id="v0", db_url="sqlite://",
                               consensus=SimpleNamespace(enabled=True, project=True))  # fmt: skip
    genesis = SimpleNamespace(validators=(SimpleNamespace(id="v0"),), f=0, quorum=1)
    mempool = SimpleNamespace(ready=False, pool=Mempool(Caps(10, 1000, 1000)))
    from prometheus_client import CollectorRegistry

    return SimpleNamespace(settings=settings, genesis=genesis, mempool=mempool, validator=None,
                           registry=CollectorRegistry())  # fmt: skip


@pytest.fixture
async def client() -> Any:
    web_app = web.Application()
    api = register_api(SimpleNamespace(web=SimpleNamespace(web_app=web_app)), fake_node())
    registered = {(r.resource.canonical, r.method) for r in web_app.router.routes() if r.resource is not None}
    expected = {(r.path, m) for r in ROUTES if r.in_openapi for m in ("GET", "HEAD")}
    assert registered == expected
    async with TestClient(TestServer(web_app)) as c:
        yield c
    api.close()


def conforms(schema: str, body: Any) -> bool:
    doc = openapi.document()
    return jsonschema_rs.Draft202012Validator({"$ref": f"#/components/schemas/{schema}",
                                               "components": doc["components"]}).is_valid(body)  # fmt: skip


async def test_answers_of_a_node_without_consensus(client: TestClient[Any, Any]) -> None:
    r = await client.get("/api/v1/health")
    assert r.status == 200 and (await r.json())["validator_id"] == "v0"
    r = await client.get("/api/v1/ready")
    body = await r.json()
    assert r.status == 503 and body["ready"] is False and conforms("Ready", body)
    assert body["checks"]["broker"]["ok"] is False
    for path in ("/api/v1/blocks", "/api/v1/blocks/latest", "/api/v1/state/root", "/api/v1/consensus"):
        r = await client.get(path)
        body = await r.json()
        assert r.status == 503 and body["error"]["code"] == "not_ready" and conforms("Error", body), path
    r = await client.get("/api/v1/blocks?limit=0")  # parameters are checked first
    assert r.status == 400 and (await r.json())["error"]["parameter"] == "limit"
    r = await client.get("/api/v1/mempool")
    assert r.status == 200 and conforms("Mempool", await r.json())
    r = await client.get("/api/v1/dlq")
    assert r.status == 200 and (await r.json())["total"] == 0
    r = await client.get("/api/v1/openapi.json")
    assert (await r.json())["paths"].keys() == openapi.document()["paths"].keys()
    r = await client.get("/api/v1/no/such/route")
    assert r.status == 404 and conforms("Error", await r.json())
    r = await client.post("/api/v1/blocks")
    assert r.status == 405 and r.headers["Allow"] == "GET, HEAD" and conforms("Error", await r.json())
    r = await client.get("/not-the-api")  # outside /api/v1: aiohttp's own 404
    assert r.status == 404 and r.content_type != "application/json"
    r = await client.head("/api/v1/health")
    assert r.status == 200
