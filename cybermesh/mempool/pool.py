"""The mempool: admitted transactions in priority order, bounded in count, bytes and age.

Caller contracts and rules:

1. Caps: after every call, len(pool) <= caps.max_txs and pool.total_bytes <= caps.max_bytes.
2. Eviction: a new entry that does not fit evicts the lowest-priority entries, worst first,
   but only entries of strictly lower priority than itself; if that cannot make room, the new
   entry is refused (`full`) and nothing is evicted. An entry larger than max_bytes is refused
   (`too_large`); a tx hash already present is refused (`duplicate`).
3. Age: `expire(now_ms)` removes every entry with admitted_ms + caps.max_age_ms <= now_ms.
4. `remove(tx_hashes)` drops committed (or otherwise dead) transactions; unknown hashes are
   ignored. NOTE: call it *after* the block holding them is committed.
5. `select(limits)` returns entries in priority order (entry.priority_key), skipping any entry
   that would push the total past limits.max_bytes, and stops at limits.max_txs entries. It
   is a function of the pool's contents only (not of insertion order), and does not remove.

The adapter mirrors every change (added, evicted, expired, removed) into the durable table and
rebuilds a pool from the table at start.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass

from sortedcontainers import SortedList

from cybermesh.mempool.entry import Entry, priority_key


@dataclass(frozen=True)
class Caps:
    """Bounds of the pool (settings.mempool)."""

    max_txs: int
    max_bytes: int
    max_age_ms: int


@dataclass(frozen=True)
class Limits:
    """Bounds of one block's selection."""

    max_txs: int
    max_bytes: int


@dataclass(frozen=True, slots=True)
class AddResult:
    """What `add` did."""

    added: bool
    refused: str
    """"" when added, else `duplicate`, `too_large` or `full` (rule 2)."""
    evicted: tuple[Entry, ...] = ()
    """Entries evicted to make room, worst first."""


class Mempool:
    """Rules 1-5 of the module docstring."""

    def __init__(self, caps: Caps, entries: Iterable[Entry] = ()) -> None:
        self.caps = caps
        self._by_hash: dict[bytes, Entry] = {}
        self._order: SortedList = SortedList()
        """Priority keys, best first (O(log n) insert and delete: a plain list's insort moved
        ~800 KB per insert at 100,000 entries)."""
        self._ages: list[tuple[int, bytes]] = []
        self._bytes = 0
        for entry in sorted(entries, key=priority_key):
            self.add(entry)

    def __len__(self) -> int:
        return len(self._by_hash)

    def __contains__(self, tx_hash: object) -> bool:
        return tx_hash in self._by_hash

    @property
    def total_bytes(self) -> int:
        return self._bytes

    def get(self, tx_hash: bytes) -> Entry | None:
        return self._by_hash.get(tx_hash)

    def entries(self) -> list[Entry]:
        """All entries, best first."""
        return [self._by_hash[k[3]] for k in self._order]

    def add(self, entry: Entry) -> AddResult:
        """Insert `entry`, evicting lower-priority entries if needed (rule 2)."""
        if entry.tx_hash in self._by_hash:
            return AddResult(False, "duplicate")
        if entry.size > self.caps.max_bytes:
            return AddResult(False, "too_large")
        key = priority_key(entry)
        count_over = len(self._by_hash) + 1 - self.caps.max_txs
        bytes_over = self._bytes + entry.size - self.caps.max_bytes
        victims: list[Entry] = []
        i = len(self._order)
        while count_over > 0 or bytes_over > 0:
            i -= 1
            if i < 0 or self._order[i] <= key:
                return AddResult(False, "full")
            victim = self._by_hash[self._order[i][3]]
            victims.append(victim)
            count_over -= 1
            bytes_over -= victim.size
        for victim in victims:
            self._drop(victim.tx_hash)
        self._by_hash[entry.tx_hash] = entry
        self._order.add(key)
        heapq.heappush(self._ages, (entry.admitted_ms, entry.tx_hash))
        self._bytes += entry.size
        return AddResult(True, "", tuple(victims))

    def remove(self, tx_hashes: Iterable[bytes]) -> tuple[Entry, ...]:
        """Drop the given transactions (rule 4); returns those that were present, by hash."""
        gone = [self._by_hash[h] for h in sorted(set(tx_hashes)) if h in self._by_hash]
        for entry in gone:
            self._drop(entry.tx_hash)
        return tuple(gone)

    def expire(self, now_ms: int) -> tuple[Entry, ...]:
        """Drop entries older than the age cap (rule 3); returns them, by hash."""
        deadline = now_ms - self.caps.max_age_ms
        gone: list[Entry] = []
        ages = self._ages
        while ages and ages[0][0] <= deadline:
            admitted_ms, tx_hash = heapq.heappop(ages)
            entry = self._by_hash.get(tx_hash)
            if entry is not None and entry.admitted_ms == admitted_ms:
                self._drop(tx_hash)
                gone.append(entry)
        return tuple(sorted(gone, key=lambda e: e.tx_hash))

    def select(self, limits: Limits) -> tuple[Entry, ...]:
        """The block builder's pick (rule 5)."""
        chosen: list[Entry] = []
        used = 0
        for key in self._order:
            if len(chosen) >= limits.max_txs:
                break
            entry = self._by_hash[key[3]]
            if used + entry.size <= limits.max_bytes:
                chosen.append(entry)
                used += entry.size
        return tuple(chosen)

    def _drop(self, tx_hash: bytes) -> None:
        entry = self._by_hash.pop(tx_hash)
        self._order.remove(priority_key(entry))
        self._bytes -= entry.size
        # the age heap is cleaned lazily in expire()
