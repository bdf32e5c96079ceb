"""Live rejoin (adapter): the watchdog that notices a replica consensus sync cannot help any more
and has it rebuilt from the block log, without a restart.

A validator partitioned or frozen for longer than its peers keep committed blocks in memory
(`consensus.keep_committed`) hears of their QCs but can never fetch the blocks below them. The
start-up catch-up (`cybermesh/node/catchup.py`) closes such a gap at start; this module runs
the same catch-up while the worker keeps running.

Rules:
1. Every `interval_s` the watchdog reads the replica's committed and heard-of heights and asks
   the pure rules (`cybermesh.consensus.rejoin`: stuck, due, backoff, off) whether to act; the
   clock comes from `clock_ms`.
2. When due it awaits `rejoin()`, which returns the number of blocks applied (the Validator's
   `_rejoin`: pause the driver, catch up from ledger.blocks.v1, build a fresh replica as at
   start-up and swap it in, resume). The watch then restarts at the attempt's end; an attempt
   that applied nothing doubles the wait (up to the cap) and is logged once.
3. A `DivergenceError` (or anything else `rejoin` raises) ends the watchdog with that error:
   the owner crashes the worker, as a divergence at start-up does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from cybermesh.consensus.rejoin import RejoinPolicy, attempted, observe, start

log = logging.getLogger(__name__)


class Watchdog:
    def __init__(self, policy: RejoinPolicy, *, heights: Callable[[], tuple[int, int]],
                 rejoin: Callable[[], Awaitable[int]], clock_ms: Callable[[], int],
                 interval_s: float = 1.0) -> None:
        self.policy = policy
        self.heights = heights
        """() -> (committed height, heard-of height) of the current replica."""
        self.rejoin = rejoin
        self.clock_ms = clock_ms
        self.interval_s = interval_s
        self.watch = start(policy, heights()[0], clock_ms())
        self.attempts = 0

    async def step(self) -> bool:
        """Rules 1-2 once: True if a rejoin was attempted."""
        committed, heard_of = self.heights()
        self.watch, due = observe(self.policy, self.watch, committed, heard_of, self.clock_ms())
        if not due:
            return False
        self.attempts += 1
        applied = await self.rejoin()
        committed, _ = self.heights()
        self.watch = attempted(self.policy, self.watch, committed, applied, self.clock_ms())
        if applied == 0:
            log.warning("rejoin attempt %d applied no block (stuck at height %d, heard of %d); "
                        "next attempt in %d ms at the earliest", self.attempts, committed,
                        heard_of, self.watch.wait_ms)
        return True

    async def run(self) -> None:
        """Rules 1-3 until cancelled (does nothing when the policy is off)."""
        if not self.policy.enabled:
            return
        while True:
            await asyncio.sleep(self.interval_s)
            await self.step()
