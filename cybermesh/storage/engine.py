"""Engines for the projection's three backends, chosen by URL.

- `cockroachdb+psycopg://...` production (CockroachDB; also connects to PostgreSQL)
- `postgresql+psycopg://...`  tests here
- `sqlite:///path.db`         embedded default (`sqlite://` = in-memory, one shared connection;
                              the file's directory is created if missing)

Rules:
1. Every engine runs with `isolation_level="SERIALIZABLE"` set explicitly.
2. SQLite: the driver's implicit transactions are turned off and every transaction starts
   with `BEGIN IMMEDIATE` (the write lock is taken up front, so read-then-write in one block
   transaction is serializable and a busy database surfaces as a retryable "locked" error
   after `timeout` seconds, never as a half-done block).
3. Passwords never appear in logs: use `redacted(url)`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import StaticPool


def redacted(url: str) -> str:
    """The URL with its password hidden."""
    return make_url(url).render_as_string(hide_password=True)


def make_engine(url: str, *, pool_size: int = 2, connect_timeout_s: int = 5) -> Engine:
    """Build the engine for `url` (rules 1-2)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        in_memory = parsed.database in (None, "", ":memory:")
        if not in_memory:
            Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)
        return _sqlite_engine(url, in_memory=in_memory)
    if backend not in ("postgresql", "cockroachdb"):
        raise ValueError(
            f"db_url: unsupported backend {backend!r} (cockroachdb, postgresql, sqlite)"
        )
    return create_engine(
        url,
        isolation_level="SERIALIZABLE",
        pool_size=pool_size,
        max_overflow=2,
        pool_pre_ping=True,
        connect_args={"connect_timeout": connect_timeout_s},
    )


def _sqlite_engine(url: str, *, in_memory: bool) -> Engine:
    kwargs: dict[str, Any] = {"isolation_level": "SERIALIZABLE"}
    connect_args: dict[str, Any] = {"timeout": 30, "check_same_thread": False}
    if in_memory:
        kwargs["poolclass"] = StaticPool
    engine = create_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (rule 2)
        cur = dbapi_conn.cursor()
        if not in_memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
