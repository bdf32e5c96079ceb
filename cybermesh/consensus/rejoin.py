"""When a lagging replica should stop waiting for consensus sync and rejoin from the block log.

Consensus sync serves only what peers still hold in memory (their tree and last
`keep_committed` committed blocks). A replica that fell further behind while partitioned or
frozen hears of certified heights far above its own but can never fetch the blocks between:
its committed height stops moving. The node's watchdog (an adapter) asks these rules, once in
a while, whether to pause consensus, replay `ledger.blocks.v1` and build a fresh replica.

Rules (heights from the replica, times in ms from the caller's clock):

1. **Stuck.** `heard_of - committed > margin`: the replica knows of certified blocks more than
   `margin` heights above its committed one (in a healthy pipeline the gap is 1 or 2).
2. **Due.** Rejoin is due when the replica is stuck (1) AND its committed height has not
   advanced for `wait_ms`. Any advance restarts the clock and resets the wait to `after_ms`
   (sync is working).
3. **Backoff.** After an attempt the clock restarts at the attempt's end. An attempt that
   applied no block doubles the wait, up to `cap_ms` (no thrashing while the log has nothing
   to offer, e.g. the broker is down); one that applied blocks resets it to `after_ms`.
4. **Off.** `after_ms == 0` disables rejoin: never due.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

#: Default for rule 1: more than this many heights between heard-of and committed.
MARGIN = 3
#: Default for rule 3: the wait stops doubling at after_ms * CAP_FACTOR.
CAP_FACTOR = 32


@dataclass(frozen=True)
class RejoinPolicy:
    after_ms: int
    """Rule 2: how long the committed height must stand still (0 = rule 4, disabled)."""
    margin: int = MARGIN
    """Rule 1: tolerated gap between heard-of and committed heights."""
    cap_factor: int = CAP_FACTOR
    """Rule 3: the longest wait is after_ms * cap_factor."""

    @property
    def enabled(self) -> bool:
        return self.after_ms > 0

    @property
    def cap_ms(self) -> int:
        return self.after_ms * max(1, self.cap_factor)


@dataclass(frozen=True)
class Watch:
    """What the watchdog remembers between two looks."""

    committed: int
    """The committed height at the last look."""
    since_ms: int
    """When `committed` was first seen (or the last attempt ended)."""
    wait_ms: int
    """The current wait of rule 2 (after_ms, doubled by rule 3)."""


def is_stuck(policy: RejoinPolicy, committed: int, heard_of: int) -> bool:
    """Rule 1."""
    return heard_of - committed > policy.margin


def start(policy: RejoinPolicy, committed: int, now_ms: int) -> Watch:
    return Watch(committed, now_ms, policy.after_ms)


def observe(policy: RejoinPolicy, watch: Watch, committed: int, heard_of: int,
            now_ms: int) -> tuple[Watch, bool]:
    """Rules 1, 2 and 4: the updated watch and whether a rejoin is due now."""
    if committed != watch.committed:
        return Watch(committed, now_ms, policy.after_ms), False
    if not policy.enabled or not is_stuck(policy, committed, heard_of):
        return watch, False
    return watch, now_ms - watch.since_ms >= watch.wait_ms


def attempted(policy: RejoinPolicy, watch: Watch, committed: int, applied: int,
              now_ms: int) -> Watch:
    """Rule 3: the watch after an attempt that applied `applied` blocks, ending at `now_ms`."""
    if applied > 0:
        return Watch(committed, now_ms, policy.after_ms)
    return replace(watch, committed=committed, since_ms=now_ms,
                   wait_ms=min(watch.wait_ms * 2, policy.cap_ms))
