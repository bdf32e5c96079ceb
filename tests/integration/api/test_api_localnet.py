"""The read API against a live 2-validator localnet on the real broker (docs/API.md).

One localnet for the module: it commits a signed load (loadgen mix: anomalies, evidence,
policies) plus a few undecodable records (DLQ), then every endpoint is exercised: pagination
edges, 404s, 400s naming the parameter, Merkle proofs verified with `verify_proof`, live
answers validated against the OpenAPI schemas, and a short schemathesis run (no 5xx).

Longer fuzz run (a live localnet, e.g. `scripts/localnet`):
    .venv/bin/schemathesis run http://127.0.0.1:PORT/api/v1/openapi.json -n 500 --checks all
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from cybermesh.api import openapi
from cybermesh.api.format import proof_from_json
from cybermesh.api.routes import ROUTES
from cybermesh.localnet import Plan, issue_token
from cybermesh.state import verify_proof
from cybermesh.state.params import PARAMS
from cybermesh.state.records import reputation_key
from cybermesh.state.smt import SparseMerkleProof
from tests.harness import produce_raw
from tests.integration.localnet.test_localnet import free_base

pytestmark = [pytest.mark.kafka, pytest.mark.isolated]
ROOT = Path(__file__).resolve().parents[3]
EVENTS = 300
GARBAGE = 5
VALIDATORS = 2


@dataclass
class Net:
    plan: Plan
    urls: list[str]
    tag: str

    @property
    def api(self) -> str:
        return self.urls[0] + "/api/v1"


def run_cli(*args: str, limit_s: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "cybermesh", *args], capture_output=True, text=True,
                          timeout=limit_s, env=env, cwd=ROOT, check=False)  # fmt: skip


def fetch(url: str) -> tuple[int, Any]:
    """(status, decoded JSON body) of a GET; error statuses are returned, not raised."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read())


def get(url: str) -> Any:
    status, body = fetch(url)
    assert status == 200, (url, status, body)
    return body


def metric(url: str, name: str) -> float:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return 0.0


def logs(d: Path) -> str:
    return "".join(f"\n--- {p.name} ---\n" + "\n".join(p.read_text(errors="replace").splitlines()[-30:])
                   for p in sorted((d / "logs").glob("*.log")))  # fmt: skip


def wait_until(check: Any, what: str, limit_s: float = 90) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def net(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    tag = "api" + uuid.uuid4().hex[:6]
    d = tmp_path_factory.mktemp("apinet") / "net"
    up = run_cli("localnet", "up", "--validators", str(VALIDATORS), "--dir", str(d), "--bootstrap", kafka_bootstrap,
                 "--topic-prefix", f"{tag}-", "--id-prefix", f"{tag}-v", "--base-port", str(free_base(VALIDATORS)))  # fmt: skip
    try:
        assert up.returncode == 0, up.stderr + logs(d)
        plan = Plan.load(d)
        # access control is on: every urlopen below sends the localnet's operator token
        opener = urllib.request.build_opener()
        opener.addheaders = [("Authorization", f"Bearer {issue_token(plan.dir, ttl_s=3600)}")]
        urllib.request.install_opener(opener)
        urls = [f"http://127.0.0.1:{m.web_port}" for m in plan.members]
        wait_until(lambda: all(fetch(u + "/api/v1/ready")[0] == 200 for u in urls), "readiness")
        maps = [a for t in ("ai.anomalies.v1", "ai.evidence.v1", "ai.policy.v1") for a in ("--topic-map", f"{t}={tag}-{t}")]
        produced = run_cli("produce", "--key", plan.producer_key, "--producer-id", plan.producer_id,
                           "--genesis", plan.genesis, "--bootstrap", kafka_bootstrap, "--count", str(EVENTS),
                           "--seed", "7", "--rate", "400", "--quiet", *maps)  # fmt: skip
        assert produced.returncode == 0, produced.stderr
        asyncio.run(produce_raw(kafka_bootstrap, f"{tag}-ai.anomalies.v1", [b"\xff not a protobuf"] * GARBAGE))
        wait_until(lambda: all(metric(u, "cybermesh_committed_txs_total") >= EVENTS for u in urls), "commits")
        api = urls[0] + "/api/v1"
        wait_until(lambda: get(api + "/dlq")["total"] >= GARBAGE, "DLQ counts")
        # the projection has passed every height that carried txs
        top = get(api + "/blocks/latest")["height"]
        wait_until(lambda: int(get(api + "/ready")["checks"]["projection"]["detail"].split()[-1]) >= top, "projection")
        yield Net(plan, urls, tag)
    finally:
        urllib.request.install_opener(None)  # type: ignore[arg-type]
        down = run_cli("localnet", "down", "--dir", str(d), "--purge")
        assert down.returncode == 0, down.stderr


# ------------------------------------------------------------------------------ helpers
_DOC = openapi.document()


def conforms(schema: str, body: Any) -> None:
    validator = jsonschema_rs.Draft202012Validator({"$ref": f"#/components/schemas/{schema}",
                                                   "components": _DOC["components"]})  # fmt: skip
    errors = [str(e) for e in validator.iter_errors(body)]
    assert not errors, (schema, errors[:3])


def error_of(url: str, status: int) -> dict[str, Any]:
    got, body = fetch(url)
    assert got == status, (url, got, body)
    conforms("Error", body)
    return body["error"]  # type: ignore[no-any-return]


def tx_blocks(net: Net) -> list[dict[str, Any]]:
    out, before = [], None
    while True:
        page = get(net.api + "/blocks?limit=100" + (f"&before={before}" if before else ""))
        out += [b for b in page["items"] if b["txs"]]
        if page["next"] is None:
            return out
        before = page["next"]


# ------------------------------------------------------------------------------ tests
def test_health_ready_and_openapi(net: Net) -> None:
    for url in net.urls:
        health = get(url + "/api/v1/health")
        conforms("Health", health)
        ready = get(url + "/api/v1/ready")
        conforms("Ready", ready)
        assert ready["ready"] and all(c["ok"] for c in ready["checks"].values())
    doc = get(net.api + "/openapi.json")
    assert doc == json.loads(json.dumps(_DOC))
    assert set(doc["paths"]) == {r.path for r in ROUTES if r.in_openapi}


def test_blocks_latest_by_height_by_hash_with_certificates(net: Net) -> None:
    latest = get(net.api + "/blocks/latest")
    conforms("Block", latest)
    ids = [v["id"] for v in get(net.api + "/validators")["items"]]
    for h in (1, 2, latest["height"]):
        blk = get(net.api + f"/blocks/{h}")
        conforms("Block", blk)
        assert blk["height"] == h
        assert get(net.api + f"/blocks/hash/{blk['hash']}") == blk  # recent: ledger; old: projection
        assert get(net.api + f"/blocks/hash/{blk['hash'].upper()}")["height"] == h
        qc = blk["qc"]
        assert (qc["block_hash"], qc["height"], qc["round"]) == (blk["hash"], h, blk["round"])
        assert len(qc["bitmap"]) == len(ids) and qc["bitmap"].count("1") == len(qc["signers"]) >= 1
        assert qc["signers"] == [i for i, bit in zip(ids, qc["bitmap"], strict=True) if bit == "1"]
        cqc = blk["commit_qc"]
        if cqc is not None:  # a two-chain QC on this block's child, or on a later descendant's
            assert cqc["round"] == cqc["parent_round"] + 1 and cqc["parent_round"] >= blk["round"]
            assert cqc["height"] > h
            if cqc["height"] == h + 1:
                assert (cqc["parent_hash"], cqc["parent_round"]) == (blk["hash"], blk["round"])
    assert get(net.api + "/blocks/2")["parent_hash"] == get(net.api + "/blocks/1")["hash"]


def test_blocks_pagination_edges(net: Net) -> None:
    top = get(net.api + "/blocks/latest")["height"]
    assert top > 7
    seen: list[int] = []
    page = get(net.api + f"/blocks?limit=7&before={top + 1}")
    while True:
        conforms("BlockPage", page)
        assert len(page["items"]) <= 7
        seen += [b["height"] for b in page["items"]]
        if page["next"] is None:
            break
        page = get(net.api + f"/blocks?limit=7&before={page['next']}")
    assert seen == list(range(top, 0, -1))  # newest first, contiguous, ends at 1 with next = null
    assert get(net.api + "/blocks?before=1") == {"items": [], "next": None}
    assert [b["height"] for b in get(net.api + "/blocks?before=2")["items"]] == [1]
    five = get(net.api + f"/blocks?limit=5&before={top + 1}")
    assert [b["height"] for b in five["items"]] == list(range(top, top - 5, -1)) and five["next"] == str(top - 4)
    newest = get(net.api + "/blocks?limit=100")["items"]  # no `before`: from the last committed block
    assert newest[0]["height"] >= top and len(newest) == min(100, newest[0]["height"])
    assert [b["height"] for b in get(net.api + "/blocks?limit=3&before=4")["items"]] == [3, 2, 1]
    assert get(net.api + "/blocks?limit=3&before=4")["next"] is None
    assert get(net.api + "/blocks?before=999999999&limit=1")["items"][0]["height"] >= top


@pytest.mark.parametrize(("query", "parameter"), [
    ("/blocks?limit=0", "limit"), ("/blocks?limit=-1", "limit"), ("/blocks?limit=101", "limit"),
    ("/blocks?limit=abc", "limit"), ("/blocks?before=0", "before"), ("/blocks?before=x", "before"),
    ("/blocks/0", "height"), ("/blocks/-3", "height"), ("/blocks/1e3", "height"),
    ("/blocks/hash/zz", "block_hash"), ("/blocks/hash/" + "ab" * 31, "block_hash"), ("/blocks/hash/" + "g" * 64, "block_hash"),
    ("/txs/123", "tx_hash"), ("/txs", "id"), ("/txs?id=", "id"), ("/txs?id=a&limit=500", "limit"),
    ("/state/keys/abc", "key"), ("/state/keys/xy", "key"),
    ("/entities?quarantined=yes", "quarantined"), ("/entities?min_reputation=1.5", "min_reputation"),
    ("/entities?cursor=zz", "cursor"), ("/entities?limit=0", "limit"),
    ("/evidence?cursor=12", "cursor"), ("/evidence?cursor=a.b", "cursor"), ("/evidence?limit=1000", "limit"),
    ("/mempool?limit=0", "limit"),
])  # fmt: skip
def test_malformed_parameters_are_400_naming_the_parameter(net: Net, query: str, parameter: str) -> None:
    err = error_of(net.api + query, 400)
    assert err["code"] == "bad_parameter" and err["parameter"] == parameter
    assert err["message"].startswith(parameter + ":")


def test_unknown_things_are_404(net: Net) -> None:
    for path in ("/blocks/999999999", "/blocks/hash/" + "ab" * 32, "/txs/" + "cd" * 32,
                 "/entities/no-such-entity", "/evidence/no-such-evidence", "/nope", "/blocks/1/extra"):
        assert error_of(net.api + path, 404)["code"] == "not_found"
    status, body = fetch(net.api + "/txs?id=no-such-id")
    assert status == 200 and body["items"] == []
    req = urllib.request.Request(net.api + "/blocks", method="POST")
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req, timeout=10)
    with exc.value:
        assert exc.value.code == 405 and exc.value.headers["Allow"] == "GET, HEAD"


def test_transactions_by_hash_and_id(net: Net) -> None:
    blocks = tx_blocks(net)
    assert sum(b["tx_count"] for b in blocks) == EVENTS
    kinds = set()
    for blk in blocks[:5] + blocks[-5:]:
        for i, h in enumerate(blk["txs"]):
            tx = get(net.api + f"/txs/{h}")
            conforms("Tx", tx)
            assert (tx["hash"], tx["height"], tx["index"]) == (h, blk["height"], i)
            assert tx["producer_id"] == net.plan.producer_id and tx["status"]
            kinds.add(tx["kind"])
            by_id = get(net.api + "/txs?" + urllib.parse.urlencode({"id": tx["id"], "producer_id": tx["producer_id"]}))
            conforms("TxPage", by_id)
            assert [t["hash"] for t in by_id["items"]] == [h]
    assert "anomaly" in kinds


def test_state_root_and_proofs_verify(net: Net) -> None:
    root = get(net.api + "/state/root")
    conforms("StateRoot", root)
    blk = get(net.api + f"/blocks/{root['height']}")
    assert blk["state_root"] == root["root"]
    entity = get(net.api + "/entities?limit=1")["items"][0]
    key = reputation_key(entity["entity_id"])
    body = get(net.api + f"/state/keys/{key.hex()}")
    conforms("StateProof", body)
    assert body["present"] and body["record"]["type"] == "Reputation"
    value, proof, r = bytes.fromhex(body["value"]), proof_from_json(body["proof"]), bytes.fromhex(body["root"])
    assert verify_proof(r, key, value, proof)
    assert verify_proof(r, key, value, SparseMerkleProof.decode(bytes.fromhex(body["proof"]["encoded"])))
    assert not verify_proof(r, key, value + b"x", proof)
    assert not verify_proof(r, key, None, proof)
    assert not verify_proof(bytes(32), key, value, proof)
    # a key that is absent: 404 with the error and a non-inclusion proof that verifies
    missing = b"rep/" + uuid.uuid4().hex.encode()
    status, absent = fetch(net.api + f"/state/keys/{missing.hex()}")
    assert status == 404 and absent["error"]["code"] == "not_found" and absent["present"] is False
    assert absent["value"] is None
    assert verify_proof(bytes.fromhex(absent["root"]), missing, None, proof_from_json(absent["proof"]))
    assert not verify_proof(bytes.fromhex(absent["root"]), missing, b"", proof_from_json(absent["proof"]))


def test_entities_filters_pages_and_detail(net: Net) -> None:
    items, cursor = [], None
    while True:
        page = get(net.api + "/entities?limit=3" + (f"&cursor={cursor}" if cursor else ""))
        conforms("EntityPage", page)
        items += page["items"]
        cursor = page["next"]
        if cursor is None:
            break
    ids = [e["entity_id"].encode() for e in items]
    assert ids == sorted(set(ids)) and len(ids) >= 3
    assert get(net.api + "/entities?limit=100")["items"] == items[:100]
    quarantined = get(net.api + "/entities?quarantined=true&limit=100")["items"]
    assert quarantined and all(e["quarantined"] for e in quarantined)
    free = get(net.api + "/entities?quarantined=false&limit=100")["items"]
    assert free and not any(e["quarantined"] for e in free)
    threshold = sorted(e["reputation"] for e in items)[len(items) // 2]
    above = get(net.api + f"/entities?min_reputation={threshold}&limit=100")["items"]
    assert [e["entity_id"] for e in above] == [e["entity_id"] for e in items if e["reputation"] >= threshold]
    for e in items[:3] + quarantined[:2]:
        detail = get(net.api + "/entities/" + urllib.parse.quote(e["entity_id"], safe=""))
        conforms("EntityDetail", detail)
        assert (detail["reputation"], detail["quarantined"]) == (e["reputation"], e["quarantined"])


def test_evidence_pages_and_detail(net: Net) -> None:
    first = get(net.api + "/evidence?limit=2")
    conforms("EvidencePage", first)
    second = get(net.api + f"/evidence?limit=2&cursor={first['next']}")
    keys = [(e["height"], e["tx_index"]) for e in first["items"] + second["items"]]
    assert keys == sorted(set(keys), reverse=True) and len(keys) == 4
    for e in first["items"]:
        detail = get(net.api + "/evidence/" + urllib.parse.quote(e["evidence_id"], safe=""))
        conforms("EvidenceDetail", detail)
        assert (detail["status"], detail["action"], detail["refs"]) == (e["status"], e["action"], e["refs"])
        assert detail["status"] in ("accepted", "rejected")


def test_policies_validators_consensus_mempool_dlq(net: Net) -> None:
    policies = get(net.api + "/policies")
    conforms("Policies", policies)
    assert set(policies["params"]) == set(PARAMS) and policies["items"]
    vals = get(net.api + "/validators")
    conforms("Validators", vals)
    assert [v["id"] for v in vals["items"]] == [m.id for m in net.plan.members]
    assert all(v["live"] for v in vals["items"]) and sum(v["self"] for v in vals["items"]) == 1
    assert any(v["last_seen"] is not None for v in vals["items"] if not v["self"])
    cons = get(net.api + "/consensus")
    conforms("Consensus", cons)
    assert cons["leader"] in [m.id for m in net.plan.members] and cons["committed_height"] >= 1
    assert cons["high_qc"]["round"] <= cons["round"]
    pool = get(net.api + "/mempool?limit=5")
    conforms("Mempool", pool)
    assert pool["ready"] and len(pool["top"]) <= 5
    dlq = get(net.api + "/dlq")
    conforms("Dlq", dlq)
    assert dlq["total"] >= GARBAGE and sum(n for t, n in dlq["by_topic"].items() if t.endswith("ai.anomalies.v1")) >= GARBAGE
    assert sum(i["count"] for i in dlq["items"]) == dlq["total"]
    # the legacy views stay
    with urllib.request.urlopen(net.urls[0] + "/mempool/?txs=0", timeout=10) as r:
        assert json.loads(r.read())["ready"] is True
    assert metric(net.urls[0], "cybermesh_height") >= 1


def test_schemathesis_finds_no_server_error(net: Net, tmp_path: Path) -> None:
    """A short seeded slice (CI); the longer run is in the module docstring."""
    st = Path(sys.executable).with_name("schemathesis")
    done = subprocess.run(
        [str(st), "run", net.api + "/openapi.json", "--max-examples", "8", "--seed", "1",
         "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
         "-H", f"Authorization: Bearer {issue_token(net.plan.dir, subject='schemathesis')}"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
