"""The projection's tables as SQLAlchemy Core objects (what the adapter queries).

The database schema itself is created by the hand-written Alembic revisions in
`migrations/versions/`; `tests/integration/projection/test_projection_migrations.py` checks that the
migrated schema has exactly these tables and columns. Portable types only (CockroachDB,
PostgreSQL, SQLite): BIGINT, INTEGER, BOOLEAN, VARCHAR/TEXT, bytes (BYTEA/BYTES/BLOB).
VARCHAR(64) holds only genesis-validated ids (validators, producers, chain id); strings a
producer chooses freely are `SafeText` (UTF-8 bytes) and indexed through `id_hash`.
Every table has an explicit natural primary key; nothing uses sequences or server defaults.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect

_U64_SPAN: Final = 2**64
_I64_MAX: Final = 2**63 - 1


class U64(TypeDecorator[int]):
    """A uint64 stored in a signed BIGINT as its two's-complement int64 (equality-safe)."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        v = int(value)
        return v - _U64_SPAN if v > _I64_MAX else v

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        v = int(value)
        return v + _U64_SPAN if v < 0 else v


class Bytes(LargeBinary):
    """BYTES/bytea/BLOB bound as plain `bytes`: every driver we use (sqlite3, psycopg) takes
    bytes as a binary parameter, so SQLAlchemy's per-value wrapping (sqlite3.Binary) is
    skipped; it was ~5 % of a validator's CPU under load (projection rows are mostly hashes)."""

    def bind_processor(self, dialect: Dialect) -> None:
        return None


class SafeText(TypeDecorator[str]):
    """A producer-chosen string stored as its UTF-8 bytes.

    Any string a producer can choose is stored this way: PostgreSQL text cannot hold U+0000
    and VARCHAR(n) refuses long values, either of which would wedge the projection on a
    committed block. Equality binds through the same encoding; byte order = code point order.
    """

    impl = Bytes
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        return None if value is None else str(value).encode("utf-8")

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else bytes(value).decode("utf-8")


def id_hash(value: str) -> bytes:
    """SHA-256 of a producer-chosen id: the indexed key for ids of unbounded length."""
    return hashlib.sha256(value.encode("utf-8")).digest()


metadata = MetaData()

blocks = Table(
    "blocks",
    metadata,
    Column("height", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", Bytes, nullable=False, unique=True),
    Column("parent_hash", Bytes, nullable=False),
    Column("round", BigInteger, nullable=False),
    Column("proposer", String(64), nullable=False),
    Column("chain_id", String(64), nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("state_root", Bytes, nullable=False),
    Column("state_root_hint", Bytes, nullable=False),
    Column("tx_count", Integer, nullable=False),
    Column("commit_qc", Bytes, nullable=False),
    Column("record_hash", Bytes, nullable=False),
)

transactions = Table(
    "transactions",
    metadata,
    Column("height", BigInteger, primary_key=True, autoincrement=False),
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("tx_hash", Bytes, nullable=False),
    Column("kind", Integer, nullable=False),
    Column("topic", String(64), nullable=False),
    Column("producer_id", String(64), nullable=False),
    Column("nonce", U64, nullable=False),
    Column("tx_id", SafeText, nullable=False),
    Column("tx_id_hash", Bytes, nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("status", Integer, nullable=False),
    Column("raw", Bytes, nullable=False),
    Index("ix_transactions_tx_hash", "tx_hash"),
    Index("ix_transactions_tx_id_hash", "tx_id_hash"),
)

evidence = Table(
    "evidence",
    metadata,
    Column("height", BigInteger, primary_key=True, autoincrement=False),
    Column("tx_index", Integer, primary_key=True, autoincrement=False),
    Column("evidence_id", SafeText, nullable=False),
    Column("evidence_id_hash", Bytes, nullable=False),
    Column("producer_id", String(64), nullable=False),
    Column("status", SafeText, nullable=False),
    Column("action", SafeText, nullable=False),
    Column("refs", Text, nullable=False),
    Index("ix_evidence_evidence_id_hash", "evidence_id_hash"),
)

state_kv = Table(
    "state_kv",
    metadata,
    Column("key", Bytes, primary_key=True),
    Column("version", BigInteger, primary_key=True, autoincrement=False),
    Column("value", Bytes, nullable=True),
)

entities = Table(
    "entities",
    metadata,
    Column("entity_key", Bytes, primary_key=True),
    Column("height", BigInteger, primary_key=True, autoincrement=False),
    Column("entity_id", SafeText, nullable=False),
    Column("reputation", BigInteger, nullable=False),
    Column("quarantined", Boolean, nullable=False),
)

state_snapshots = Table(
    "state_snapshots",
    metadata,
    Column("validator_id", String(64), primary_key=True),
    Column("height", BigInteger, primary_key=True, autoincrement=False),
    Column("root", Bytes, nullable=False),
    Column("location", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
)

validators = Table(
    "validators",
    metadata,
    Column("validator_id", String(64), primary_key=True),
    Column("consensus_pubkey", Bytes, nullable=False),
    Column("node_pubkey", Bytes, nullable=False),
    Column("address", String(256), nullable=False),
    Column("since_height", BigInteger, nullable=False),
)

projection_progress = Table(
    "projection_progress",
    metadata,
    Column("validator_id", String(64), primary_key=True),
    Column("height", BigInteger, nullable=False),
    Column("hash", Bytes, nullable=False),
)
