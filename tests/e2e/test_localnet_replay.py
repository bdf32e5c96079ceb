"""End to end on the real broker: a 4-validator localnet commits a signed load; `cybermesh
replay` rebuilds, from ledger.blocks.v1 alone, the state root every validator published on
control.commits.v1 for that height.

Skipped when the workers of this checkout do not commit (no `cybermesh_height` gauge: the
consensus/commit path is not wired into the worker yet)."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from cybermesh.localnet import Plan, heights_from_metrics, issue_token
from cybermesh.proto.v1 import control_pb2
from tests.integration.localnet.test_localnet import cli, free_base

pytestmark = pytest.mark.kafka
EVENTS = 300


def gauges(plan: Plan) -> list[dict[str, int]]:
    import urllib.request

    out = []
    token = issue_token(plan.dir)  # the localnet's workers need a bearer token (docs/AUTH.md)
    for m in plan.members:
        request = urllib.request.Request(f"http://127.0.0.1:{m.web_port}/metrics")
        request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=5) as r:
            text = r.read().decode()
        g = heights_from_metrics(text)
        for line in text.splitlines():
            if line.startswith("cybermesh_committed_txs_total "):
                g["txs"] = int(float(line.split()[1]))
        out.append(g)
    return out


async def commit_roots(bootstrap: str, topic: str, height: int, copies: int) -> set[tuple[str, str]]:
    c = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await c.start()
    found: set[tuple[str, str]] = set()
    try:
        async with asyncio.timeout(60):
            while len(found) < copies:
                for msgs in (await c.getmany(timeout_ms=1_000)).values():
                    for m in msgs:
                        e = control_pb2.CommitEvent.FromString(m.value or b"")
                        if e.height == height:
                            found.add((e.validator_id, e.state_root.hex()))
    finally:
        await c.stop()
    return found


def worker_logs(d: Path) -> str:
    """The tail of every worker log (the folder is purged afterwards)."""
    return "".join(
        f"\n--- {log.name} ---\n" + "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        for log in sorted((d / "logs").glob("*.log"))
    )


@pytest.mark.isolated
async def test_replay_of_a_live_localnet_reaches_every_validators_root(kafka_bootstrap: str, tmp_path: Path) -> None:
    # NOTE: scripts/test runs this in a pytest process of its own (marker `isolated`): inside the
    # whole suite's process a worker exits silently after start-up (issue 10, not understood yet).
    tag = "e2e" + uuid.uuid4().hex[:6]
    d = tmp_path / "net"
    up = await cli("localnet", "up", "--validators", "4", "--dir", str(d), "--bootstrap", kafka_bootstrap,
                   "--topic-prefix", f"{tag}-", "--id-prefix", f"{tag}-v", "--base-port", str(free_base(4)))  # fmt: skip
    try:
        assert up.returncode == 0, up.stderr + worker_logs(d)
        plan = Plan.load(d)
        await asyncio.sleep(5)
        if not any("cybermesh_height" in g for g in gauges(plan)):
            pytest.skip("the workers of this checkout do not commit (no cybermesh_height gauge)")
        maps = [a for t in ("ai.anomalies.v1", "ai.evidence.v1", "ai.policy.v1") for a in ("--topic-map", f"{t}={tag}-{t}")]
        produced = await cli("produce", "--key", plan.producer_key, "--producer-id", plan.producer_id,
                             "--genesis", plan.genesis, "--bootstrap", kafka_bootstrap, "--count", str(EVENTS),
                             "--rate", "300", "--quiet", *maps)  # fmt: skip
        assert produced.returncode == 0, produced.stderr
        for _ in range(120):
            if all(g.get("txs", 0) >= EVENTS for g in gauges(plan)):
                break
            await asyncio.sleep(1)
        assert all(g.get("txs", 0) == EVENTS for g in gauges(plan)), gauges(plan)
        done = await cli("replay", "--genesis", plan.genesis, "--bootstrap", kafka_bootstrap,
                         "--topic", f"{tag}-ledger.blocks.v1", "--data-dir", str(tmp_path / "replay"), "--json")  # fmt: skip
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["txs"] == EVENTS and result["incomplete"] is None
        roots = await commit_roots(kafka_bootstrap, f"{tag}-control.commits.v1", result["height"], 4)
        assert {root for _, root in roots} == {result["root"]}
        assert {v for v, _ in roots} == {m.id for m in plan.members}
    finally:
        down = await cli("localnet", "down", "--dir", str(d), "--purge")
        assert down.returncode == 0, down.stderr
