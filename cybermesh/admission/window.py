"""Time-windowed membership: the replay cache and the dedupe set (ports and an in-memory twin).

Rules:
1. A key remembered with expiry `e` is seen at `now_ms` iff `now_ms < e`.
2. `expire(now_ms)` forgets every key whose expiry is <= now_ms and returns them, sorted, so
   the adapter can delete them from its durable table.
3. Remembering a key again keeps the later of the two expiries.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import Protocol


class Window(Protocol):
    """The port admission needs for the replay cache and the dedupe set."""

    def is_seen(self, key: bytes, now_ms: int) -> bool:
        """True if `key` was remembered with an expiry after `now_ms` (rule 1)."""
        ...

    def remember(self, key: bytes, expires_ms: int) -> None:
        """Remember `key` until `expires_ms` (rule 3)."""
        ...


class MemoryWindow:
    """In-memory Window: a dict of expiries plus a min-heap for expiry (rules 1-3)."""

    def __init__(self, entries: Iterable[tuple[bytes, int]] = ()) -> None:
        self._expiry: dict[bytes, int] = {}
        self._heap: list[tuple[int, bytes]] = []
        for key, expires_ms in entries:
            self.remember(key, expires_ms)

    def __len__(self) -> int:
        return len(self._expiry)

    def is_seen(self, key: bytes, now_ms: int) -> bool:
        expires = self._expiry.get(key)
        return expires is not None and now_ms < expires

    def remember(self, key: bytes, expires_ms: int) -> None:
        current = self._expiry.get(key)
        if current is not None and current >= expires_ms:
            return
        self._expiry[key] = expires_ms
        heapq.heappush(self._heap, (expires_ms, key))

    def expire(self, now_ms: int) -> list[bytes]:
        """Forget and return the keys whose expiry is <= now_ms (rule 2)."""
        gone: list[bytes] = []
        heap = self._heap
        while heap and heap[0][0] <= now_ms:
            expires_ms, key = heapq.heappop(heap)
            if self._expiry.get(key) == expires_ms:
                del self._expiry[key]
                gone.append(key)
        return sorted(gone)

    def items(self) -> list[tuple[bytes, int]]:
        """(key, expiry) pairs, sorted by key."""
        return sorted(self._expiry.items())
