"""Prometheus metrics of the SQL projection (registered once, in the default registry)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

DB_RETRIES = Counter(
    "cybermesh_projection_db_retries_total",
    "Block transactions retried as a whole, by SQLSTATE (40001 serialization failure, "
    "23505 concurrent insert of the same block, 40003 CockroachDB ambiguous result, "
    "sqlite_busy).",
    ["code"],
)
INTEGRITY_ALARMS = Counter(
    "cybermesh_projection_integrity_alarms_total",
    "Stored rows whose hash differs from the block being projected (projection halted).",
    ["table"],
)
UNAVAILABLE = Counter(
    "cybermesh_projection_db_unavailable_total",
    "Attempts that failed because the database was unreachable (the projector backs off).",
)
BLOCKS = Counter(
    "cybermesh_projection_blocks_total",
    "Blocks projected, by outcome (inserted: wrote the rows; verified: rows already present "
    "and equal).",
    ["outcome"],
)
HEIGHT = Gauge(
    "cybermesh_projection_height",
    "Last block height projected, per validator.",
    ["validator"],
)
