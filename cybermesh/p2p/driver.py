"""Runs a consensus replica on the Transport: the asyncio driver of the consensus core.

The replica is any object with the driver contract of `cybermesh.consensus.replica.Replica`:
`start(now_ms)`, `on_message(sender_id, msg, now_ms)` and `on_timer(round, now_ms)`, each
returning Outputs with `send` ((validator id, msg) pairs), `broadcast`, `timers` (objects with
`round` and `at_ms`), `commits` and `rejected` (reason codes). This module does not import the
consensus package, so the transport does not depend on it.

Rules:
1. One task owns the replica: every call into it happens on that task, in arrival order,
   so the replica needs no locks (one event loop, as the validator process has).
2. Inbound messages are accepted only on the consensus protocol and only from a peer id that
   belongs to a validator (the validator id is what the replica sees as the sender);
   undecodable messages are dropped (metrics `driver_undecodable`, `driver_unknown_sender`).
3. Outputs are released after the call returns (the replica has already persisted its safety
   data): `send` to one validator, `broadcast` to every other validator, never to ourselves.
4. Only the last timer of an Outputs counts; it replaces the armed one. A due timer fires
   before the next message is handled.
5. Commits go to `on_commit` in order, awaited before the next input (the caller persists
   them); `rejected` reasons are counted as `driver_rejected_<reason>`.
6. The clock (`now_ms`) comes from `clock_ms`, injected so tests can control it.
7. A replica that holds a proposal back (proposal pacing: `wants_tick` true) gets `tick(now_ms)`
   every `tick_ms` while it does, between messages; replicas without `tick` never do.
8. `async with driver.paused():` waits until the replica's current input (call, release of
   its outputs, `on_commit`) is finished and then lets no input reach the replica until the
   block ends; inbound messages wait in the transport's bounded queue meanwhile. Inside it,
   `await driver.swap(replica)` replaces the replica: the old one gets nothing more, its armed
   timer is dropped, and the new one is started (`start(now_ms)`, outputs released) at once.
   This is how a node rebuilds its replica (live rejoin) without a second writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from cybermesh.p2p.peer_id import PeerId
from cybermesh.p2p.transport import CONSENSUS, Transport

log = logging.getLogger(__name__)


class TimerLike(Protocol):
    @property
    def round(self) -> int: ...

    @property
    def at_ms(self) -> int: ...


class OutputsLike(Protocol):
    @property
    def send(self) -> Sequence[tuple[str, Any]]: ...

    @property
    def broadcast(self) -> Sequence[Any]: ...

    @property
    def timers(self) -> Sequence[TimerLike]: ...

    @property
    def commits(self) -> Sequence[Any]: ...

    @property
    def rejected(self) -> Sequence[str]: ...


class ReplicaLike(Protocol):
    def start(self, now_ms: int) -> OutputsLike: ...

    def on_message(self, sender: str, msg: Any, now_ms: int) -> OutputsLike: ...

    def on_timer(self, round_: int, now_ms: int) -> OutputsLike: ...


#: The longest the driver waits for a message before it looks at its timer again.
MAX_WAIT_S = 0.25


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class ConsensusDriver:
    def __init__(
        self,
        replica: ReplicaLike,
        transport: Transport,
        validators: Mapping[str, PeerId],
        *,
        me: str,
        decode: Callable[[bytes], Any],
        encode: Callable[[Any], bytes],
        on_commit: Callable[[Sequence[Any]], Awaitable[None] | None] | None = None,
        clock_ms: Callable[[], int] = wall_clock_ms,
        tick_ms: int = 20,
    ) -> None:
        self.replica = replica
        self.transport = transport
        self.me = me
        self._peer_of = {vid: pid for vid, pid in sorted(validators.items()) if vid != me}
        self._validator_of = {pid: vid for vid, pid in self._peer_of.items()}
        self._decode = decode
        self._encode = encode
        self._on_commit = on_commit
        self._clock = clock_ms
        self._tick_s = tick_ms / 1000
        self._next_tick_ms = 0
        self._timer: TimerLike | None = None
        self._task: asyncio.Task[None] | None = None
        self._turn = asyncio.Lock()
        """Held while an input is handled (rule 1) and while the driver is paused (rule 8)."""
        self.metrics: Counter[str] = Counter()

    async def start(self) -> None:
        """Start the replica and the driving task (the transport must already be started)."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        while not task.done():  # a cancel may be absorbed by an inner await: repeat it
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def wait(self) -> None:
        """Wait for the driving task; its failure propagates here."""
        if self._task is not None:
            await self._task

    @contextlib.asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        """Rule 8: no input reaches the replica inside this block. NOTE: not reentrant, and
        never from the driver's own task (`on_commit`): both would wait forever."""
        async with self._turn:
            self.metrics["driver_pauses"] += 1
            yield

    async def swap(self, replica: ReplicaLike) -> None:
        """Rule 8: replace the replica (only inside `paused()`) and start the new one."""
        if not self._turn.locked():
            raise RuntimeError("ConsensusDriver.swap outside paused()")
        self.replica = replica
        self._timer = None
        self._next_tick_ms = 0
        self.metrics["driver_swaps"] += 1
        await self._release(replica.start(self._clock()))

    async def _run(self) -> None:
        async with self._turn:
            await self._release(self.replica.start(self._clock()))
        while True:
            async with self._turn:
                if await self._due_input():
                    continue
            timer = self._timer
            wait_s = MAX_WAIT_S if timer is None else max(0.0, (timer.at_ms - self._clock()) / 1000)
            wait_s = min(wait_s, MAX_WAIT_S)  # a timer armed by swap() is seen within MAX_WAIT_S
            if getattr(self.replica, "wants_tick", False):
                wait_s = min(wait_s, self._tick_s)
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that
                # races with a completed recv(), and stop() would then hang.
                async with asyncio.timeout(wait_s):
                    msg = await self.transport.recv()
            except TimeoutError:
                continue
            sender = self._validator_of.get(msg.peer)
            if sender is None or msg.protocol != CONSENSUS:
                self.metrics["driver_unknown_sender"] += 1
                continue
            try:
                decoded = self._decode(msg.data)
            except Exception:  # noqa: BLE001 - any decoder failure means "drop it"
                self.metrics["driver_undecodable"] += 1
                continue
            self.metrics["driver_messages_in"] += 1
            async with self._turn:  # after a swap (rule 8) the new replica gets this message
                await self._release(self.replica.on_message(sender, decoded, self._clock()))

    async def _due_input(self) -> bool:
        """Feed a due timer (rule 4) or tick (rule 7) to the replica; False if none was due."""
        timer = self._timer
        if timer is not None and self._clock() >= timer.at_ms:
            self._timer = None
            await self._release(self.replica.on_timer(timer.round, self._clock()))
            return True
        if getattr(self.replica, "wants_tick", False):
            now = self._clock()
            if now >= self._next_tick_ms:
                self._next_tick_ms = now + int(self._tick_s * 1000)
                await self._release(self.replica.tick(now))  # type: ignore[attr-defined]
                return True
        return False

    async def _release(self, out: OutputsLike) -> None:
        for vid, msg in out.send:
            peer = self._peer_of.get(vid)
            if peer is not None:
                await self.transport.send(peer, CONSENSUS, self._encode(msg))
                self.metrics["driver_messages_out"] += 1
        for msg in out.broadcast:
            data = self._encode(msg)
            for peer in self._peer_of.values():
                await self.transport.send(peer, CONSENSUS, data)
                self.metrics["driver_messages_out"] += 1
        if out.timers:
            self._timer = out.timers[-1]
        for reason in out.rejected:
            self.metrics[f"driver_rejected_{reason}"] += 1
        if out.commits:
            self.metrics["driver_commits"] += len(out.commits)
            if self._on_commit is not None:
                result = self._on_commit(out.commits)
                if inspect.isawaitable(result):
                    await result
