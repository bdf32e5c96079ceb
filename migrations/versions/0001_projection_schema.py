"""Projection schema: blocks, transactions, evidence, state_kv, entities, state_snapshots,
validators, projection_progress.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

Hand-written (no autogenerate): portable DDL only, reviewed against CockroachDB
(docs/PROJECTION.md, "CockroachDB review"): explicit natural primary keys, no sequences,
no server defaults, no PostgreSQL-only functions or types. Producer-chosen strings are
UTF-8 bytes (no NUL/length failures) and indexed by their SHA-256 (`*_hash`, `entity_key`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blocks",
        sa.Column("height", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("hash", sa.LargeBinary, nullable=False),
        sa.Column("parent_hash", sa.LargeBinary, nullable=False),
        sa.Column("round", sa.BigInteger, nullable=False),
        sa.Column("proposer", sa.String(64), nullable=False),
        sa.Column("chain_id", sa.String(64), nullable=False),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        sa.Column("state_root", sa.LargeBinary, nullable=False),
        sa.Column("state_root_hint", sa.LargeBinary, nullable=False),
        sa.Column("tx_count", sa.Integer, nullable=False),
        sa.Column("commit_qc", sa.LargeBinary, nullable=False),
        sa.Column("record_hash", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("height", name="pk_blocks"),
        sa.UniqueConstraint("hash", name="uq_blocks_hash"),
    )
    op.create_table(
        "transactions",
        sa.Column("height", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("idx", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("tx_hash", sa.LargeBinary, nullable=False),
        sa.Column("kind", sa.Integer, nullable=False),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("producer_id", sa.String(64), nullable=False),
        sa.Column("nonce", sa.BigInteger, nullable=False),
        sa.Column("tx_id", sa.LargeBinary, nullable=False),
        sa.Column("tx_id_hash", sa.LargeBinary, nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("raw", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("height", "idx", name="pk_transactions"),
    )
    op.create_index("ix_transactions_tx_hash", "transactions", ["tx_hash"])
    op.create_index("ix_transactions_tx_id_hash", "transactions", ["tx_id_hash"])
    op.create_table(
        "evidence",
        sa.Column("height", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("tx_index", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("evidence_id", sa.LargeBinary, nullable=False),
        sa.Column("evidence_id_hash", sa.LargeBinary, nullable=False),
        sa.Column("producer_id", sa.String(64), nullable=False),
        sa.Column("status", sa.LargeBinary, nullable=False),
        sa.Column("action", sa.LargeBinary, nullable=False),
        sa.Column("refs", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("height", "tx_index", name="pk_evidence"),
    )
    op.create_index("ix_evidence_evidence_id_hash", "evidence", ["evidence_id_hash"])
    op.create_table(
        "state_kv",
        sa.Column("key", sa.LargeBinary, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("value", sa.LargeBinary, nullable=True),
        sa.PrimaryKeyConstraint("key", "version", name="pk_state_kv"),
    )
    op.create_table(
        "entities",
        sa.Column("entity_key", sa.LargeBinary, nullable=False),
        sa.Column("height", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("entity_id", sa.LargeBinary, nullable=False),
        sa.Column("reputation", sa.BigInteger, nullable=False),
        sa.Column("quarantined", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("entity_key", "height", name="pk_entities"),
    )
    op.create_table(
        "state_snapshots",
        sa.Column("validator_id", sa.String(64), nullable=False),
        sa.Column("height", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("root", sa.LargeBinary, nullable=False),
        sa.Column("location", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("validator_id", "height", name="pk_state_snapshots"),
    )
    op.create_table(
        "validators",
        sa.Column("validator_id", sa.String(64), nullable=False),
        sa.Column("consensus_pubkey", sa.LargeBinary, nullable=False),
        sa.Column("node_pubkey", sa.LargeBinary, nullable=False),
        sa.Column("address", sa.String(256), nullable=False),
        sa.Column("since_height", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("validator_id", name="pk_validators"),
    )
    op.create_table(
        "projection_progress",
        sa.Column("validator_id", sa.String(64), nullable=False),
        sa.Column("height", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("validator_id", name="pk_projection_progress"),
    )


def downgrade() -> None:
    for name in (
        "projection_progress",
        "validators",
        "state_snapshots",
        "entities",
        "state_kv",
        "evidence",
        "transactions",
        "blocks",
    ):
        op.drop_table(name)
