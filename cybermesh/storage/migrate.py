"""Schema migrations (Alembic, hand-written revisions under `migrations/versions/`).

`upgrade(url)` brings the database to the newest revision; `current(url)` names the
revision it is at (None for an empty database). Both work through every backend URL,
including `cockroachdb+psycopg://` pointed at PostgreSQL (no reflection is used).

NOTE: `migrations/` lives at the repository root (DESIGN §2), next to the `cybermesh`
package; an installed package finds it through env CYBERMESH_MIGRATIONS_DIR.
"""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from cybermesh.config import DbSettings
from cybermesh.storage.engine import make_engine

MIGRATIONS_DIR = Path(
    os.environ.get("CYBERMESH_MIGRATIONS_DIR")
    or Path(__file__).resolve().parents[2] / "migrations"
)
"""The Alembic revisions; env CYBERMESH_MIGRATIONS_DIR for an installed (non-editable) package,
e.g. the Docker image (/opt/cybermesh/migrations)."""


def alembic_config(url: str, options: DbSettings | None = None) -> Config:
    """An Alembic Config for `url` without an alembic.ini file; migrations/env.py builds its
    engine with `make_engine(url, options=options)` (the `db` settings: TLS, timeouts)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["db_options"] = options
    return cfg


def upgrade(
    url: str, revision: str = "head", *, sql: bool = False, options: DbSettings | None = None
) -> None:
    """Migrate `url` to `revision`; with `sql=True` print the DDL instead (offline mode)."""
    command.upgrade(alembic_config(url, options), revision, sql=sql)


def head() -> str | None:
    """The newest revision in the migrations directory."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current(url: str, *, options: DbSettings | None = None) -> str | None:
    """The revision `url` is at, or None if it was never migrated."""
    engine = make_engine(url, options=options, pool_size=1)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
