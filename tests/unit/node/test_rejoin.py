"""Live rejoin adapter: the Watchdog loop (cybermesh/node/rejoin.py) and Validator._rejoin's
order of operations (pause -> catch-up -> fresh replica swapped in -> resume)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from cybermesh.consensus.rejoin import RejoinPolicy
from cybermesh.node.commit import DivergenceError
from cybermesh.node.rejoin import Watchdog
from cybermesh.node.service import ObservedReplica, Validator


class Clock:
    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now


def watchdog(heights: list[tuple[int, int]], applied: list[int], clock: Clock,
             after_ms: int = 1000) -> tuple[Watchdog, list[int]]:
    calls: list[int] = []

    async def rejoin() -> int:
        calls.append(clock.now)
        n = applied.pop(0)
        committed, heard_of = heights[-1]
        heights.append((committed + n, heard_of))
        clock.now += 50  # the attempt takes a while
        return n

    return Watchdog(RejoinPolicy(after_ms, cap_factor=4), heights=lambda: heights[-1],
                    rejoin=rejoin, clock_ms=clock), calls


async def test_the_watchdog_rejoins_only_when_stuck_for_the_wait_and_backs_off_when_futile() -> None:
    clock, heights = Clock(), [(10, 10)]
    dog, calls = watchdog(heights, [0, 0, 40, 0], clock)
    heights.append((10, 60))  # heard of 60, stuck at 10
    clock.now = 999
    assert not await dog.step()
    clock.now = 1000
    assert await dog.step() and calls == [1000]
    clock.now = 3049  # nothing applied: the wait doubled to 2000 ms from the attempt's end
    assert not await dog.step()
    clock.now = 3050
    assert await dog.step() and calls == [1000, 3050]
    clock.now = 7099  # 4000 ms now
    assert not await dog.step()
    clock.now = 7100
    assert await dog.step() and calls == [1000, 3050, 7100]  # this one applies 40 blocks
    assert dog.watch.wait_ms == 1000 and dog.watch.committed == 50
    assert not await dog.step()  # 50 vs heard-of 60: stuck, but the clock restarted at 7150
    clock.now = 8150
    assert await dog.step() and calls == [1000, 3050, 7100, 8150]
    assert dog.attempts == 4


async def test_progress_keeps_the_watchdog_quiet_and_off_never_runs() -> None:
    clock, heights = Clock(), [(10, 60)]
    dog, calls = watchdog(heights, [], clock)
    for h in range(11, 30):
        clock.now += 900
        heights.append((h, 60))  # sync is slowly working: committed moves every 900 ms
        assert not await dog.step()
    assert calls == []
    off, _ = watchdog(heights, [], clock, after_ms=0)
    await off.run()  # returns at once when disabled


async def test_a_divergence_during_rejoin_propagates() -> None:
    clock = Clock()

    async def diverge() -> int:
        raise DivergenceError(7, "state_root_mismatch", "x")

    dog = Watchdog(RejoinPolicy(1000), heights=lambda: (5, 50), rejoin=diverge, clock_ms=clock)
    clock.now = 1000
    with pytest.raises(DivergenceError):
        await dog.step()


# ------------------------------------------------------------------ Validator._rejoin


@dataclass
class FakeReplica:
    name: str
    committed_height: int = 10
    heard_of_height: int = 60
    round: int = 99
    high_qc: Any = None
    last_tc: Any = None


class FakeDriver:
    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.is_paused = False
        self.replica: Any = None

    @contextlib.asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        self.log.append("pause")
        self.is_paused = True
        yield
        self.is_paused = False
        self.log.append("resume")

    async def swap(self, replica: Any) -> None:
        assert self.is_paused
        self.replica = replica
        self.log.append(f"swap:{replica.replica.name}")


@dataclass
class FakeCatchUp:
    start: int
    height: int

    @property
    def applied(self) -> int:
        return self.height - self.start


def validator(applied: int, log: list[str]) -> tuple[Validator, FakeDriver, CollectorRegistry]:
    from cybermesh.config import load_settings

    registry = CollectorRegistry()
    v = Validator(load_settings(), None, None, registry)  # type: ignore[arg-type]
    driver = FakeDriver(log)
    v.p2p = type("P2P", (), {"driver": driver})()
    v.replica = FakeReplica("old")
    machine = SimpleNamespace(height=10)
    v.pipeline = SimpleNamespace(machine=machine)  # type: ignore[assignment]
    v.observed = ObservedReplica(v.replica, CollectorRegistry())
    driver.replica = v.observed

    async def catch_up() -> FakeCatchUp:
        assert driver.is_paused, "catch-up must run with the driver paused"
        log.append("catch-up")
        machine.height = 10 + applied
        return FakeCatchUp(10, 10 + applied)

    def make_replica() -> FakeReplica:
        log.append("fresh")
        v.replica = FakeReplica("fresh", committed_height=10 + applied, heard_of_height=10 + applied)
        return v.replica

    v._catch_up = catch_up  # type: ignore[method-assign]
    v._make_replica = make_replica  # type: ignore[method-assign]
    return v, driver, registry


async def test_rejoin_pauses_catches_up_swaps_a_fresh_replica_and_counts_it() -> None:
    log: list[str] = []
    v, driver, registry = validator(45, log)
    seen = v.observed.seen  # type: ignore[union-attr]
    assert await v._rejoin() == 45
    assert log == ["pause", "catch-up", "fresh", "swap:fresh", "resume"]
    assert driver.replica.replica is v.replica and v.replica.name == "fresh"
    assert driver.replica.seen is seen  # the same counters and liveness record
    assert registry.get_sample_value("cybermesh_rejoins_total") == 1
    assert registry.get_sample_value("cybermesh_rejoin_attempts_total") == 1


async def test_a_rejoin_that_applied_nothing_keeps_the_old_replica() -> None:
    log: list[str] = []
    v, driver, registry = validator(0, log)
    assert await v._rejoin() == 0
    assert log == ["pause", "catch-up", "resume"]
    assert driver.replica.replica.name == "old"
    assert registry.get_sample_value("cybermesh_rejoins_total") == 0
    assert registry.get_sample_value("cybermesh_rejoin_attempts_total") == 1


async def test_a_replica_left_below_the_committed_state_is_replaced_even_if_nothing_new_applies() -> None:
    """E.g. an earlier attempt applied blocks but could not swap: the state is ahead of the
    replica, so this attempt swaps although its own catch-up found nothing new."""
    log: list[str] = []
    v, _driver, registry = validator(0, log)
    v.pipeline.machine.height = 30  # type: ignore[union-attr]
    v._catch_up = lambda: _done(log)  # type: ignore[method-assign, assignment]
    assert await v._rejoin() == 0
    assert log == ["pause", "catch-up", "fresh", "swap:fresh", "resume"]
    assert registry.get_sample_value("cybermesh_rejoins_total") == 1


async def _done(log: list[str]) -> FakeCatchUp:
    log.append("catch-up")
    return FakeCatchUp(30, 30)
