"""A bounded in-process block source for the Projector (the commit path pushes, never waits).

`BlockFeed.put(record)` is called by the commit path with each committed block's record; it
never blocks and keeps at most `capacity` records (the oldest are evicted first).
`BlockFeed.fetch_block(height)` is the Projector's source:

1. a buffered record of that height is returned;
2. otherwise `fallback(height)` is asked when given (e.g. a read of the block store or of
   ledger.blocks.v1 — the source of truth), so an outage longer than the buffer still
   catches up;
3. otherwise None if the height is not committed yet (above every buffered height);
4. otherwise the block was evicted and cannot be found: `BlockEvicted` (the Projector halts;
   the operator replays the projection from the ledger).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from cybermesh.storage.port import ProjectionError
from cybermesh.storage.records import BlockRecord


class BlockEvicted(ProjectionError):
    """A block the projection still needs left the feed's buffer and has no fallback."""

    def __init__(self, height: int, oldest: int) -> None:
        super().__init__(f"block {height} was evicted from the feed (oldest buffered: {oldest})")
        self.height = height
        self.oldest = oldest


class BlockFeed:
    """Bounded buffer of committed block records (rules 1-4)."""

    def __init__(
        self,
        capacity: int = 1024,
        *,
        fallback: Callable[[int], BlockRecord | None] | None = None,
        on_put: Callable[[int], None] | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity: {capacity} must be >= 1")
        self._capacity = capacity
        self._fallback = fallback
        self._on_put = on_put
        self._records: OrderedDict[int, BlockRecord] = OrderedDict()
        self.evicted = 0
        """Records dropped because the buffer was full."""

    def put(self, record: BlockRecord) -> None:
        """Buffer a committed block (never blocks) and call `on_put(height)` (e.g. notify)."""
        self._records[record.height] = record
        self._records.move_to_end(record.height)
        while len(self._records) > self._capacity:
            self._records.popitem(last=False)
            self.evicted += 1
        if self._on_put is not None:
            self._on_put(record.height)

    def fetch_block(self, height: int) -> BlockRecord | None:
        """The record of `height` (rules 1-4)."""
        for old in [h for h in self._records if h < height]:
            del self._records[old]  # projected already: the projector asks in order
        record = self._records.get(height)
        if record is not None:
            return record
        if self._fallback is not None:
            found = self._fallback(height)
            if found is not None:
                return found
        if not self._records or height > max(self._records):
            return None
        raise BlockEvicted(height, min(self._records))
