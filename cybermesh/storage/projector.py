"""The catch-up loop that keeps the SQL projection up with the committed chain.

Pull-based, so it never blocks consensus: the commit path only calls `notify(height)`
(non-blocking, no queue to fill); the projector fetches committed blocks itself through
`fetch_block(height)` (the ledger / block store is the source of truth, so nothing has to be
buffered while the database is down).

Rules:
1. On start, and after every failure, it re-reads `last_height(validator_id)` from the
   database and projects from the height after it, in height order.
2. `fetch_block(h)` returns the record of committed block h, or None if h is not committed
   yet; it may be a plain or an async function. On None the projector waits for `notify`
   or `idle_s`.
3. The database being unavailable (`StoreUnavailable`, `RetriesExhausted`, a lost
   connection) is retried forever with bounded jittered backoff; the loop resumes by itself
   when the database returns.
4. An `IntegrityAlarm` (or `ProjectionGap`, or `feed.BlockEvicted`) halts the projector: it
   stops, `error` holds the exception and `wait_for` / `stop` re-raise it. It is never retried.
5. Database calls run in worker threads (`asyncio.to_thread`): the event loop never waits on
   SQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.exc import DBAPIError

from cybermesh.storage.feed import BlockEvicted
from cybermesh.storage.port import (
    IntegrityAlarm,
    Projection,
    ProjectionError,
    ProjectionGap,
    RetriesExhausted,
    StoreUnavailable,
)
from cybermesh.storage.records import BlockRecord
from cybermesh.storage.retry import backoff_s

log = logging.getLogger("cybermesh.storage.projector")

FetchBlock = Callable[[int], "BlockRecord | Awaitable[BlockRecord | None] | None"]


class ProjectorHalted(ProjectionError):
    """The projector stopped on an integrity alarm or a gap; `cause` is the original error."""

    def __init__(self, cause: ProjectionError) -> None:
        super().__init__(f"projection halted: {cause}")
        self.cause = cause


class Projector:
    """Projects committed blocks into a `Projection` store (rules 1-5)."""

    def __init__(
        self,
        store: Projection,
        validator_id: str,
        fetch_block: FetchBlock,
        *,
        idle_s: float = 0.5,
        backoff_base_s: float = 0.05,
        backoff_cap_s: float = 5.0,
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._validator_id = validator_id
        self._fetch_block = fetch_block
        self._idle_s = idle_s
        self._base_s = backoff_base_s
        self._cap_s = backoff_cap_s
        self._rng = rng if rng is not None else random.Random()
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.height = 0
        """Last height projected by this projector (0 before the first read)."""
        self.failures = 0
        """Consecutive failed attempts (database unavailable); 0 when healthy."""
        self.error: ProjectionError | None = None
        """The alarm that halted the projector, if any."""

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("projector already started")
        self._task = asyncio.create_task(self._run(), name=f"projector-{self._validator_id}")

    async def stop(self) -> None:
        """Stop the loop; re-raise the halting error if there was one."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.error is not None:
            raise ProjectorHalted(self.error)

    def notify(self, height: int) -> None:
        """A block up to `height` committed (never blocks).

        NOTE: call it on the projector's event loop (the commit path runs there); from another
        thread use `loop.call_soon_threadsafe(projector.notify, height)`.
        """
        del height  # the projector pulls; the height is only a wake-up hint
        self._wake.set()

    async def wait_for(self, height: int) -> None:
        """Wait until `height` is projected; raise ProjectorHalted if the projector halts."""
        while self.height < height:
            if self.error is not None:
                raise ProjectorHalted(self.error)
            self._progress.clear()
            await self._progress.wait()
        if self.error is not None and self.height < height:
            raise ProjectorHalted(self.error)

    def _advance(self) -> None:
        self._progress.set()

    async def _fetch(self, height: int) -> BlockRecord | None:
        result: Any = self._fetch_block(height)
        if inspect.isawaitable(result):
            result = await result
        return result  # type: ignore[no-any-return]

    async def _idle(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)

    async def _run(self) -> None:
        next_height: int | None = None
        while True:
            try:
                if next_height is None:
                    self.height = await asyncio.to_thread(
                        self._store.last_height, self._validator_id
                    )
                    next_height = self.height + 1
                    self._advance()
                record = await self._fetch(next_height)
                if record is None:
                    await self._idle(self._idle_s)
                    continue
                await asyncio.to_thread(
                    self._store.save_block, record, validator_id=self._validator_id
                )
            except (IntegrityAlarm, ProjectionGap, BlockEvicted) as exc:
                self.error = exc
                log.critical("projector %s halted: %s", self._validator_id, exc)
                self._advance()
                return
            except (StoreUnavailable, RetriesExhausted, DBAPIError) as exc:
                self.failures += 1
                delay = backoff_s(
                    self.failures, base_s=self._base_s, cap_s=self._cap_s, rng=self._rng
                )
                log.log(
                    logging.WARNING if isinstance(exc, StoreUnavailable) else logging.ERROR,
                    "projector %s: database failure (attempt %d, retry in %.2fs): %s",
                    self._validator_id, self.failures, delay, exc,
                )  # fmt: skip
                next_height = None
                await asyncio.sleep(delay)
                continue
            if self.failures:
                log.info(
                    "projector %s: database back after %d failures",
                    self._validator_id,
                    self.failures,
                )
            self.failures = 0
            self.height = next_height
            next_height += 1
            self._advance()
