"""A validator that was down longer than its peers keep blocks for consensus sync catches up
from ledger.blocks.v1 at start (cybermesh/node/catchup.py), then rejoins consensus.

Peers keep only 100 committed blocks (consensus.keep_committed) and propose empty blocks
without pacing, so the gap v3 comes back to (≥ 150 blocks, with transactions in it) cannot be
served by consensus sync: only the block log can close it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.e2e.test_validators import (
    assert_same_roots,
    create_topics,
    heights,
    make_events,
    publish,
    wait_all_at_least,
)
from tests.e2e.validators import Network

pytestmark = pytest.mark.kafka

KEEP = 100
GAP = 3 * KEEP // 2  # above the window peers serve (KEEP + KEEP // 10)


async def test_a_validator_down_past_the_sync_window_catches_up_from_the_block_log(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    net = Network(tmp_path, kafka_bootstrap, round_ms=200, env={
        "CYBERMESH_CONSENSUS__KEEP_COMMITTED": str(KEEP),
        "CYBERMESH_CONSENSUS__EMPTY_BLOCK_DELAY_MS": "0",
    })  # fmt: skip
    await create_topics(kafka_bootstrap, net.prefix)
    valid, _invalid, _dups = make_events(net)
    net.start_all()
    try:
        await wait_all_at_least(net, 1, "cybermesh_height")
        net.kill("v3")
        down_at = max(h or 0 for h in (await heights(net, "cybermesh_height")).values())
        await publish(net, valid[:200])  # the gap carries transactions, not only empty blocks
        deadline = time.monotonic() + 120
        while True:
            live = [h for v, h in (await heights(net, "cybermesh_height")).items() if v != "v3"]
            if all(h is not None and h >= down_at + GAP for h in live):
                break
            assert time.monotonic() < deadline, f"the others did not advance {GAP} blocks: {live}"
            await asyncio.sleep(1.0)
        target = int(min(h for h in live if h is not None))
        net.start("v3")
        await wait_all_at_least(net, target, "cybermesh_height")
        log = (tmp_path / "v3" / "worker.log").read_text(errors="replace")
        lines = [line for line in log.splitlines() if "catch-up from" in line]
        assert len(lines) == 2, lines  # first start (empty topic) and the restart
        applied = int(lines[-1].split("(")[1].split()[0])
        assert applied >= GAP - 10, lines[-1]
        # v3 published, for a height inside the gap and for the target, the others' state root
        await wait_all_at_least(net, target, "cybermesh_emitted_height")
        await assert_same_roots(kafka_bootstrap, net.prefix, net.ids, [down_at + GAP // 2, target])
    finally:
        net.stop_all()
