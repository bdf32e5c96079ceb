"""ConsensusDriver with scripted replicas on real Transports: routing by validator id, timers,
commits, dropped inputs. (The real consensus core runs in tests/e2e/test_p2p_network.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from p2p_helpers import eventually, key

from cybermesh.p2p.driver import ConsensusDriver
from cybermesh.p2p.transport import CONSENSUS, Transport, TransportConfig


@dataclass(frozen=True)
class Timer:
    round: int
    at_ms: int


@dataclass(frozen=True)
class Out:
    send: tuple[tuple[str, Any], ...] = ()
    broadcast: tuple[Any, ...] = ()
    timers: tuple[Timer, ...] = ()
    commits: tuple[Any, ...] = ()
    rejected: tuple[str, ...] = ()


@dataclass
class Scripted:
    """Leader broadcasts "hello" at start; followers answer "ack:<id>" to the sender and
    commit; everyone arms a timer at start and records when it fires."""

    me: str
    leader: bool
    seen: list[tuple[str, str]] = field(default_factory=list)
    timers_fired: list[int] = field(default_factory=list)

    def start(self, now_ms: int) -> Out:
        timers = (Timer(7, now_ms + 10_000_000), Timer(1, now_ms + 50))  # last one counts
        return Out(broadcast=("hello",) if self.leader else (), timers=timers)

    def on_message(self, sender: str, msg: Any, now_ms: int) -> Out:
        self.seen.append((sender, msg))
        if msg == "hello":
            return Out(send=((sender, f"ack:{self.me}"), ("nobody", "x")), commits=(msg,))
        if msg == "bad":
            return Out(rejected=("invalid_certificate",))
        return Out()

    def on_timer(self, round_: int, now_ms: int) -> Out:
        self.timers_fired.append(round_)
        return Out()


def decode(raw: bytes) -> str:
    text = raw.decode("ascii")
    if text == "undecodable":
        raise ValueError(text)
    return text


@pytest.fixture
async def mesh() -> AsyncIterator[tuple[list[Transport], list[ConsensusDriver], list[Scripted]]]:
    cfg = TransportConfig(backoff_base=0.05, dial_grace=0.2)
    ts = [Transport(key(300 + i), {}, cfg) for i in range(3)]
    for t in ts:
        await t.start("/ip4/127.0.0.1/tcp/0")
    for a in ts:
        for b in ts:
            if a is not b:
                a.add_peer(b.peer_id, b.listen_addr)
    ids = {f"v{i}": t.peer_id for i, t in enumerate(ts)}
    replicas = [Scripted(f"v{i}", leader=i == 0) for i in range(3)]
    commits: list[list[Any]] = [[] for _ in range(3)]
    drivers = [
        ConsensusDriver(
            r,
            t,
            ids,
            me=r.me,
            decode=decode,
            encode=str.encode,
            on_commit=lambda c, i=i: commits[i].extend(c),
        )
        for i, (r, t) in enumerate(zip(replicas, ts, strict=True))
    ]
    for d in drivers:
        await d.start()
    yield ts, drivers, replicas
    for d in drivers:
        await d.stop()
    for t in ts:
        await t.stop()


async def test_messages_are_routed_by_validator_id(mesh) -> None:
    _, drivers, replicas = mesh
    await eventually(lambda: len(replicas[0].seen) == 2)
    assert sorted(replicas[0].seen) == [("v1", "ack:v1"), ("v2", "ack:v2")]
    for r in replicas[1:]:
        assert r.seen == [("v0", "hello")]
    assert drivers[1].metrics["driver_commits"] == 1
    await eventually(lambda: all(r.timers_fired == [1] for r in replicas))


async def test_bad_inputs_are_dropped_and_counted(mesh) -> None:
    ts, drivers, replicas = mesh
    await eventually(lambda: len(replicas[1].seen) == 1)
    await ts[0].send(ts[1].peer_id, CONSENSUS, b"undecodable")
    await ts[0].send(ts[1].peer_id, CONSENSUS, b"bad")
    await eventually(lambda: drivers[1].metrics["driver_rejected_invalid_certificate"] == 1)
    assert drivers[1].metrics["driver_undecodable"] == 1
    assert replicas[1].seen == [("v0", "hello"), ("v0", "bad")]


async def test_a_paused_driver_feeds_nothing_and_swap_starts_the_new_replica(mesh) -> None:
    """Rule 8: while paused, nothing reaches the old replica; after `swap` the new replica is
    started (its broadcast goes out, its timer fires) and gets every message from then on."""
    ts, drivers, replicas = mesh
    await eventually(lambda: len(replicas[1].seen) == 1)
    old, new = replicas[1], Scripted("v1", leader=True)
    fired = list(old.timers_fired)  # [] unless its 50 ms timer beat us to the pause
    with pytest.raises(RuntimeError):
        await drivers[1].swap(new)  # only inside paused()
    async with drivers[1].paused():
        await ts[0].send(ts[1].peer_id, CONSENSUS, b"during-pause")
        await ts[2].send(ts[1].peer_id, CONSENSUS, b"during-pause-2")
        await asyncio.sleep(0.3)
        assert old.seen == [("v0", "hello")]
        await drivers[1].swap(new)
        assert drivers[1].replica is new and new.seen == []
    expected = [("v0", "ack:v0"), ("v0", "during-pause"), ("v2", "ack:v2"), ("v2", "during-pause-2")]
    await eventually(lambda: sorted(new.seen) == expected)
    await eventually(lambda: new.timers_fired == [1])
    assert old.seen == [("v0", "hello")] and old.timers_fired == fired  # its timer was dropped
    assert ("v1", "hello") in replicas[0].seen and ("v1", "hello") in replicas[2].seen
    assert drivers[1].metrics["driver_swaps"] == 1
