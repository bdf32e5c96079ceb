"""A validator frozen (SIGSTOP, not restarted) for longer than its peers keep committed blocks
rejoins live: its watchdog sees it stuck behind the heights it hears of, pauses consensus,
catches up from ledger.blocks.v1 and swaps in a fresh replica (cybermesh/node/rejoin.py).

Peers keep only 100 committed blocks and propose empty blocks without pacing, under a steady
signed load, so the ≥ 150 blocks v3 misses cannot be served by consensus sync. Before live
rejoin (or with consensus.rejoin_after_ms = 0) the same v3 stays at its old height for good."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_validators import assert_same_roots, create_topics, make_events, publish
from tests.e2e.validators import Network

pytestmark = pytest.mark.kafka

KEEP = 100
GAP = 3 * KEEP // 2  # above the window peers serve (KEEP + KEEP // 10)
REJOIN_AFTER_MS = 2_000


async def height_of(net: Network, v: str, name: str = "cybermesh_height") -> int:
    h = await net.metric(v, name)
    return -1 if h is None else int(h)


async def wait_for(net: Network, v: str, height: int, limit_s: float, name: str = "cybermesh_height") -> int:
    deadline = time.monotonic() + limit_s
    while (h := await height_of(net, v, name)) < height:
        assert time.monotonic() < deadline, f"{v} at {name} {h} < {height}\n{net.log_tail(v)}"
        assert net.alive()[v] is None, f"{v} exited\n{net.log_tail(v)}"
        await asyncio.sleep(0.5)
    return h


async def wait_ready(net: Network, v: str, limit_s: float) -> None:
    """Until v's Faust worker is fully up (tables recovered, agents running)."""
    deadline = time.monotonic() + limit_s
    while "[^Worker]: Ready" not in (net.base / v / "worker.log").read_text(errors="replace"):
        assert time.monotonic() < deadline, f"{v} not ready\n{net.log_tail(v)}"
        await asyncio.sleep(0.5)


async def steady_load(net: Network, records: list[Any], chunk: int = 20, every_s: float = 0.5) -> None:
    for i in range(0, len(records), chunk):
        await publish(net, records[i:i + chunk])
        await asyncio.sleep(every_s)


async def test_a_frozen_validator_past_the_sync_window_rejoins_without_a_restart(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    net = Network(tmp_path, kafka_bootstrap, round_ms=200, ports=(29000, 30000), env={
        "CYBERMESH_CONSENSUS__KEEP_COMMITTED": str(KEEP),
        "CYBERMESH_CONSENSUS__EMPTY_BLOCK_DELAY_MS": "0",
        "CYBERMESH_CONSENSUS__REJOIN_AFTER_MS": str(REJOIN_AFTER_MS),
    })  # fmt: skip
    await create_topics(kafka_bootstrap, net.prefix)
    valid, _invalid, _dups = make_events(net)
    net.start_all()
    load = None
    try:
        for v in net.ids:
            await wait_ready(net, v, 60)
            await wait_for(net, v, 3, 60)
        load = asyncio.create_task(steady_load(net, valid[:600]))
        await asyncio.sleep(1.0)  # v3 commits some of the load before it freezes
        down_at = await height_of(net, "v3")
        pid = net.procs["v3"].pid
        net.send_signal("v3", signal.SIGSTOP)
        frozen = time.monotonic()
        for v in ("v0", "v1", "v2"):
            await wait_for(net, v, down_at + GAP, 90)
        target = min([await height_of(net, v) for v in ("v0", "v1", "v2")])
        net.send_signal("v3", signal.SIGCONT)
        resumed = time.monotonic()
        reached = await wait_for(net, "v3", target, 45)
        rejoined_s = time.monotonic() - resumed
        # same process, never restarted; it rejoined (not synced: peers no longer hold the gap)
        assert net.procs["v3"].pid == pid and net.alive()["v3"] is None
        assert (await net.metric("v3", "cybermesh_rejoins_total") or 0) >= 1
        log = (tmp_path / "v3" / "worker.log").read_text(errors="replace")
        lines = [line for line in log.splitlines() if "rejoin: height" in line]
        assert lines, net.log_tail("v3")
        applied = int(lines[0].split("(")[1].split()[0])
        assert applied >= GAP - 10, lines[0]
        # it keeps committing through consensus afterwards (no further rejoin needed)
        rejoins = await net.metric("v3", "cybermesh_rejoins_total")
        later = max([await height_of(net, v) for v in ("v0", "v1", "v2")]) + 20
        await wait_for(net, "v3", later, 30)
        assert await net.metric("v3", "cybermesh_rejoins_total") == rejoins
        # its state roots inside the gap and at the target equal the others'
        for v in net.ids:
            await wait_for(net, v, target, 30, "cybermesh_emitted_height")
        await assert_same_roots(kafka_bootstrap, net.prefix, net.ids, [down_at + GAP // 2, target])
        print(f"\nrejoin e2e: frozen at {down_at} for {resumed - frozen:.1f} s, peers at {target}; "
              f"v3 reached {reached} {rejoined_s:.1f} s after SIGCONT; {lines[0].split('rejoin: ')[1]}")
    finally:
        if load is not None:
            load.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await load
        net.stop_all()
