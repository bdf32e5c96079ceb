"""Alembic environment of the SQL projection (hand-written revisions; no autogenerate).

Run through `cybermesh db upgrade|current` (cybermesh/storage/migrate.py), which passes the
URL (or an open connection in `config.attributes["connection"]`). Offline mode (`--sql`)
prints the DDL for review instead of executing it.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from cybermesh.storage.engine import make_engine

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=None,
        render_as_batch=connection.dialect.name == "sqlite",
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    given = config.attributes.get("connection")
    if given is not None:
        _run(given)
    else:
        engine = make_engine(
            config.get_main_option("sqlalchemy.url") or "",
            options=config.attributes.get("db_options"),
            pool_size=1,
        )
        try:
            with engine.connect() as conn:
                _run(conn)
        finally:
            engine.dispose()
