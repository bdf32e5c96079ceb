"""`cybermesh localnet up|status|down` against the real broker: workers start, answer on their
web ports, ingest a produced load, are reported by status and stop cleanly (idempotently)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from cybermesh.localnet import counter_sum, heights_from_metrics, issue_token

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).resolve().parents[3]


def free_base(n: int, low: int = 26000, span: int = 800) -> int:
    """A base port in low..low+span-1 with web ports base..base+n-1 and libp2p ports
    base+100.. free (below Linux's ephemeral range 32768-60999, so no outgoing connection can
    take a port before the worker binds it)."""
    for _ in range(50):
        base = low + uuid.uuid4().int % span
        try:
            for port in [*range(base, base + n), *range(base + 100, base + 100 + n)]:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free port range")


async def cli(*args: str, limit_s: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "cybermesh", *args], capture_output=True, text=True,
        timeout=limit_s, env=env, cwd=ROOT, check=False,
    )  # fmt: skip


def api_status(port: int, path: str, token: str | None) -> int:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code


async def status(d: Path) -> dict:  # type: ignore[type-arg]
    done = await cli("localnet", "status", "--dir", str(d), "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize("validators", [2])
async def test_up_status_produce_down(kafka_bootstrap: str, tmp_path: Path, validators: int) -> None:
    tag = "ln" + uuid.uuid4().hex[:8]
    d = tmp_path / "net"
    base = free_base(validators)
    up = await cli("localnet", "up", "--validators", str(validators), "--dir", str(d), "--bootstrap", kafka_bootstrap,
                   "--topic-prefix", f"{tag}-", "--id-prefix", f"{tag}-v", "--base-port", str(base), "--json")  # fmt: skip
    try:
        assert up.returncode == 0, up.stderr
        st = await status(d)
        rows = st["validators"]
        assert [r["id"] for r in rows] == [f"{tag}-v{i}" for i in range(validators)]
        assert all(r["alive"] and r["web"] and r["ready"] for r in rows), rows
        assert [r["web_port"] for r in rows] == list(range(base, base + validators))
        assert {Path(r["log"]).name for r in rows} == {f"{tag}-v{i}.log" for i in range(validators)}
        # access control is on: no token 401, a viewer 403 on operator views, the localnet's token 200
        assert [api_status(base, "/metrics", None), api_status(base, "/metrics", issue_token(d, role="viewer")),
                api_status(base, "/metrics", issue_token(d))] == [401, 403, 200]  # fmt: skip
        # the localnet's producer key feeds every worker (admitted; with consensus wired in,
        # committed txs leave the mempool, so the mempool size alone is not the measure)
        maps = [a for t in ("ai.anomalies.v1", "ai.evidence.v1", "ai.policy.v1") for a in ("--topic-map", f"{t}={tag}-{t}")]
        produced = await cli("produce", "--key", st["producer_key"], "--producer-id", st["producer_id"],
                             "--genesis", st["genesis"], "--bootstrap", kafka_bootstrap, "--count", "40",
                             "--rate", "400", "--quiet", *maps)  # fmt: skip
        assert produced.returncode == 0, produced.stderr
        # every record is admitted, or (read after the network committed it) counted as such
        def accounted(r: dict) -> int:  # type: ignore[type-arg]
            return int(r["admitted"] or 0) + int(r["already_committed"] or 0)

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rows = (await status(d))["validators"]
            if all(accounted(r) == 40 for r in rows):
                break
            await asyncio.sleep(0.5)
        assert [accounted(r) for r in rows] == [40] * validators, rows
        assert all(r["mempool"] + (r["committed_txs"] or 0) >= 40 for r in rows), rows
        # up again while running: reuses the running workers (same pids)
        again = await cli("localnet", "up", "--validators", str(validators), "--dir", str(d), "--bootstrap",
                          kafka_bootstrap, "--topic-prefix", f"{tag}-", "--id-prefix", f"{tag}-v",
                          "--base-port", str(base), "--json")  # fmt: skip
        assert again.returncode == 0, again.stderr
        assert [r["pid"] for r in json.loads(again.stdout)["validators"]] == [r["pid"] for r in rows]
        # another validator count in the same dir is refused
        other = await cli("localnet", "up", "--validators", "3", "--dir", str(d), "--bootstrap", kafka_bootstrap,
                          "--id-prefix", f"{tag}-v", "--base-port", str(base))  # fmt: skip
        assert other.returncode == 1 and "holds a localnet" in other.stderr
        # the whole network stopped at once and started again: commits resume (whether it stops
        # with certified blocks above everyone's committed height is timing: the deterministic
        # checks are tests/unit/consensus/test_replica.py and the whole-network-restart sims)
        rows = (await status(d))["validators"]
        down = await cli("localnet", "down", "--dir", str(d), "--json")
        assert down.returncode == 0, down.stderr
        stopped_at = max(int(r["height"] or 0) for r in rows)  # it went on for a moment, < 10
        restarted = await cli("localnet", "up", "--validators", str(validators), "--dir", str(d), "--bootstrap",
                              kafka_bootstrap, "--topic-prefix", f"{tag}-", "--id-prefix", f"{tag}-v",
                              "--base-port", str(base), "--json")  # fmt: skip
        assert restarted.returncode == 0, restarted.stderr
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rows = (await status(d))["validators"]
            if all(int(r["height"] or 0) > stopped_at + 10 for r in rows):
                break
            await asyncio.sleep(0.5)
        assert all(int(r["height"] or 0) > stopped_at + 10 for r in rows), (stopped_at, rows)
    finally:
        down = await cli("localnet", "down", "--dir", str(d), "--json")
    assert down.returncode == 0, down.stderr
    assert set(json.loads(down.stdout).values()) == {"stopped"}
    rows = (await status(d))["validators"]
    assert not any(r["alive"] for r in rows)
    again = await cli("localnet", "down", "--dir", str(d), "--json")
    assert again.returncode == 0 and set(json.loads(again.stdout).values()) == {"not running"}
    for i in range(validators):
        assert "Closing event loop" in (d / "logs" / f"{tag}-v{i}.log").read_text()
    # a NEW chain with the same validator ids would inherit their Faust changelogs: refused
    fresh = tmp_path / "fresh"
    args = ("localnet", "up", "--validators", str(validators), "--dir", str(fresh), "--bootstrap", kafka_bootstrap,
            "--topic-prefix", f"{tag}-", "--id-prefix", f"{tag}-v", "--base-port", str(base), "--json")  # fmt: skip
    refused = await cli(*args)
    assert refused.returncode == 1 and "holds topics of another chain" in refused.stderr
    assert not (fresh / "genesis.json").exists()
    # --purge deletes the topics and the directory; then the new chain starts
    purged = await cli("localnet", "down", "--dir", str(d), "--purge")
    assert purged.returncode == 0, purged.stderr
    assert not d.exists()
    started = await cli(*args)
    try:
        assert started.returncode == 0, started.stderr
        assert all(r["ready"] for r in json.loads(started.stdout)["validators"])
    finally:
        gone = await cli("localnet", "down", "--dir", str(fresh), "--purge")
    assert gone.returncode == 0, gone.stderr


def test_heights_from_metrics_reads_height_gauges_only() -> None:
    text = "\n".join([
        "# HELP cybermesh_committed_height x",
        "cybermesh_committed_height 17.0",
        'cybermesh_projection_height{validator="v0"} 15.0',
        "cybermesh_height_changes_total 3.0",
        "cybermesh_mempool_txs 50.0",
    ])  # fmt: skip
    assert heights_from_metrics(text) == {"cybermesh_committed_height": 17, "cybermesh_projection_height": 15}


def test_counter_sum_adds_labels() -> None:
    text = 'cybermesh_admitted_total{topic="a"} 3.0\ncybermesh_admitted_total{topic="b"} 4.0\ncybermesh_admitted_created 1.0\n'
    assert counter_sum(text, "cybermesh_admitted_total") == 7
    assert counter_sum(text, "cybermesh_committed_txs_total") is None
