"""The port the Merkle tree persists through, and its in-memory twin. Pure.

NOTE (contract for adapters):
1. `write(puts, deletes)` is atomic: after a crash either all of it is visible or none.
2. Within one `write`, deletes are applied before puts (a key in both ends up put).
3. `get` after a completed `write` returns the written value (read-your-writes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol


class NodeStore(Protocol):
    """Byte-keyed storage for tree nodes, roots and values."""

    def get(self, key: bytes) -> bytes | None: ...

    def write(self, puts: Mapping[bytes, bytes], deletes: Iterable[bytes]) -> None: ...


class MemoryNodeStore:
    """The in-memory twin of the rocksdict adapter (tests, benchmarks, scratch execution)."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def write(self, puts: Mapping[bytes, bytes], deletes: Iterable[bytes]) -> None:
        for key in deletes:
            self.data.pop(key, None)
        self.data.update(puts)
