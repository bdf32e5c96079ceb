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
4. PostgreSQL / CockroachDB take their connection options from the `db` settings section
   (`DbSettings`, `engine_options`): libpq TLS parameters (sslmode, sslrootcert, sslcert,
   sslkey; they override the URL's), `application_name`, `statement_timeout` (libpq `options`
   `-c statement_timeout=MS`: PostgreSQL and CockroachDB both honour it), `connect_timeout`,
   and the pool (size, overflow, recycle, timeout, pre-ping). Defaults = `DbSettings()`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import StaticPool

from cybermesh.config import DbSettings


def redacted(url: str) -> str:
    """The URL with its password hidden."""
    return make_url(url).render_as_string(hide_password=True)


def engine_options(db: DbSettings | None = None, *, pool_size: int | None = None) -> dict[str, Any]:
    """`create_engine` keyword arguments for a PostgreSQL / CockroachDB URL (rules 1, 4)."""
    db = db if db is not None else DbSettings()
    connect_args: dict[str, Any] = {
        "connect_timeout": db.connect_timeout_s,
        "application_name": db.application_name,
    }
    if db.statement_timeout_ms:
        connect_args["options"] = f"-c statement_timeout={db.statement_timeout_ms}"
    for name in ("sslmode", "sslrootcert", "sslcert", "sslkey"):
        value = getattr(db, name)
        if value is not None:
            connect_args[name] = str(value)
    return {
        "isolation_level": "SERIALIZABLE",
        "pool_size": pool_size if pool_size is not None else db.pool_size,
        "max_overflow": db.max_overflow,
        "pool_recycle": db.pool_recycle_s,
        "pool_timeout": db.pool_timeout_s,
        "pool_pre_ping": True,
        "connect_args": connect_args,
    }


def make_engine(
    url: str, *, options: DbSettings | None = None, pool_size: int | None = None
) -> Engine:
    """Build the engine for `url` (rules 1-2, 4); `pool_size` overrides the settings' one."""
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
    return create_engine(url, **engine_options(options, pool_size=pool_size))


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
