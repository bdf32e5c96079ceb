"""The projection port: what the node and the API need from the SQL projection.

Caller contracts (NOTE):
1. `save_block(record, validator_id=v)` is called in height order per validator, starting at
   `last_height(v) + 1`; re-saving a height at or below `last_height(v)` is allowed (it only
   verifies). A record more than one above `last_height(v)` raises `ProjectionGap`.
2. One call = one SERIALIZABLE transaction: after it returns, every row of the block and
   v's progress are durable together; after it raises, nothing of it was written.
3. A block already in the database (projected by any validator sharing it) is verified, not
   written again: its hash and record digest must equal the new ones, else `IntegrityAlarm`
   is raised and nothing is overwritten. The caller must stop projecting (halt) on it.
4. `StoreUnavailable` means the database could not be reached: nothing was written and the
   call may be repeated later (the Projector does this with backoff).
5. Queries never write. Pages are bounded by `limit` (1..MAX_PAGE).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, Protocol

from cybermesh.storage.records import (
    BlockRecord,
    EvidenceRecord,
    SnapshotRecord,
    TxRecord,
    ValidatorRecord,
)

MAX_PAGE: Final = 1000

SaveOutcome = Literal["inserted", "verified"]


class ProjectionError(Exception):
    """Base of the projection's errors."""


class IntegrityAlarm(ProjectionError):
    """A stored row differs from the block being projected: divergence, never overwritten."""

    def __init__(self, table: str, key: str, stored: bytes, new: bytes) -> None:
        super().__init__(
            f"integrity alarm: {table} {key} stored hash {stored.hex()} != new {new.hex()}"
        )
        self.table = table
        self.key = key
        self.stored = stored
        self.new = new


class ProjectionGap(ProjectionError):
    """A block was offered out of order for a validator."""

    def __init__(self, validator_id: str, last_height: int, height: int) -> None:
        super().__init__(
            f"projection gap: {validator_id} is at height {last_height}, got block {height}"
        )
        self.validator_id = validator_id
        self.last_height = last_height
        self.height = height


class StoreUnavailable(ProjectionError):
    """The database could not be reached; nothing was written (retry later)."""

    def __init__(self, url: str, cause: str) -> None:
        super().__init__(f"projection database {url} unavailable: {cause}")
        self.url = url
        self.cause = cause


class RetriesExhausted(ProjectionError):
    """A block transaction kept failing with retryable errors."""

    def __init__(self, attempts: int, code: str) -> None:
        super().__init__(f"block transaction failed {attempts} times, last with {code}")
        self.attempts = attempts
        self.code = code


@dataclass(frozen=True)
class BlockSummary:
    """A block's header row (without its transactions)."""

    height: int
    hash: bytes
    parent_hash: bytes
    round: int
    proposer: str
    chain_id: str
    timestamp: int
    state_root: bytes
    state_root_hint: bytes
    tx_count: int


@dataclass(frozen=True)
class TxRow:
    """A projected transaction and the height of its block."""

    height: int
    tx: TxRecord


@dataclass(frozen=True)
class EvidenceRow:
    """A projected evidence decision and the height of its block."""

    height: int
    evidence: EvidenceRecord


@dataclass(frozen=True)
class EntityState:
    """An entity's reputation and quarantine flag as of `height` (last block that changed it)."""

    entity_id: str
    height: int
    reputation: int
    quarantined: bool


class Projection(Protocol):
    """The SQL projection port (contracts 1-5 in the module docstring)."""

    def save_block(self, record: BlockRecord, *, validator_id: str) -> SaveOutcome: ...

    def load_block(self, height: int) -> BlockRecord | None: ...

    def last_height(self, validator_id: str) -> int: ...

    def block_by_height(self, height: int) -> BlockSummary | None: ...

    def block_by_hash(self, block_hash: bytes) -> BlockSummary | None: ...

    def blocks_page(
        self, start: int, limit: int, *, descending: bool = False
    ) -> list[BlockSummary]: ...

    def tx_by_hash(self, tx_hash: bytes) -> TxRow | None: ...

    def txs_by_id(self, tx_id: str, producer_id: str | None = None) -> list[TxRow]: ...

    def entity(self, entity_id: str, at_height: int | None = None) -> EntityState | None: ...

    def quarantined(self, after: str = "", limit: int = 100) -> list[EntityState]: ...

    def evidence(self, evidence_id: str) -> list[EvidenceRow]: ...

    def validators(self) -> list[ValidatorRecord]: ...

    def state_value(self, key: bytes, at_height: int | None = None) -> bytes | None: ...

    def snapshots(self, validator_id: str) -> list[SnapshotRecord]: ...

    def close(self) -> None: ...
