"""A byte-bounded LRU of encoded answers, keyed by (request, version) (pure).

Rules:
1. An answer is cached under (path with query, version), where the version is what the
   answer is a function of: the state height for answers read from the committed state, the
   projected height for answers read from the SQL projection, nothing for immutable answers
   (a committed block), a short time bucket for live views (mempool, DLQ counts).
2. A lookup with another version misses: a new committed or projected height makes older
   entries unreachable (they age out of the LRU).
3. The total size of cached bodies stays within `max_bytes`; the least recently used go first.
   A body larger than `max_bytes // 8` is never cached.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

Key = tuple[str, Hashable]


class AnswerCache:
    def __init__(self, max_bytes: int = 16 << 20) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Key, tuple[int, bytes]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Key) -> tuple[int, bytes] | None:
        found = self._entries.get(key)
        if found is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return found

    def put(self, key: Key, status: int, body: bytes) -> None:
        """Rule 3."""
        if len(body) > self.max_bytes // 8:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self.size -= len(old[1])
        self._entries[key] = (status, body)
        self.size += len(body)
        while self.size > self.max_bytes:
            _, (_, dropped) = self._entries.popitem(last=False)
            self.size -= len(dropped)
