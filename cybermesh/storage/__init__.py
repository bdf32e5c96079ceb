"""SQL projection of the committed chain (DESIGN §7): a thin SQLAlchemy Core adapter.

- `records`   what a projected block is (frozen values; built from a CommittedBlock)
- `port`      the port (`Projection`) and its errors
- `sql`       `SqlStore`, the adapter for CockroachDB / PostgreSQL / SQLite
- `projector` `Projector`, the catch-up loop (pull-based, survives database outages)
- `feed`      `BlockFeed`, a bounded never-blocking in-process source for the Projector
- `migrate`   Alembic migrations (`cybermesh db upgrade|current`)
"""

from cybermesh.storage.port import (
    IntegrityAlarm,
    Projection,
    ProjectionError,
    ProjectionGap,
    RetriesExhausted,
    StoreUnavailable,
)
from cybermesh.storage.records import BlockRecord, from_committed_block

__all__ = [
    "BlockRecord",
    "IntegrityAlarm",
    "Projection",
    "ProjectionError",
    "ProjectionGap",
    "RetriesExhausted",
    "StoreUnavailable",
    "from_committed_block",
]
