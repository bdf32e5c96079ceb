"""`cybermesh db upgrade` through a `cockroachdb+psycopg://` URL, with the `db` settings, on the
test PostgreSQL (no CockroachDB binary can be installed here; docs/DEPLOY.md lists what this
does and does not verify).

1. `db upgrade` / `db current` succeed through the CockroachDB dialect and the settings' options.
2. A connection from `make_engine(url, options=db)` carries application_name and
   statement_timeout (SHOW), and a statement over the timeout is cancelled by the server.
3. `db.sslmode = require` reaches libpq: the non-TLS test server refuses the connection.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from cybermesh.config import DbSettings
from cybermesh.storage import migrate
from cybermesh.storage.engine import make_engine

pytestmark = [pytest.mark.postgres]
ROOT = Path(__file__).resolve().parents[3]
CLI = Path(sys.executable).with_name("cybermesh")


def crdb(url: str) -> str:
    return url.replace("postgresql+psycopg://", "cockroachdb+psycopg://")


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("CYBERMESH_")}
    full.update(env, PYTHONPATH=str(ROOT))
    return subprocess.run([str(CLI), *args], env=full, capture_output=True, text=True,
                          timeout=120, check=False, cwd=ROOT)


def test_db_upgrade_through_the_cockroachdb_dialect(fresh_db: str) -> None:
    url = crdb(fresh_db)
    env = {"CYBERMESH_DB__APPLICATION_NAME": "cm-deploy-upgrade", "CYBERMESH_DB__STATEMENT_TIMEOUT_MS": "60000"}
    assert cli("db", "current", "--url", url, **env).returncode == 1  # not migrated yet
    done = cli("db", "upgrade", "--url", url, **env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(f"at revision {migrate.head()}")
    again = cli("db", "current", "--url", url, **env)
    assert again.returncode == 0 and f"revision {migrate.head()}, head {migrate.head()}" in again.stdout
    assert migrate.current(fresh_db) == migrate.head()


def test_session_options_hold_on_every_connection(fresh_db: str) -> None:
    db = DbSettings(application_name="cm-deploy-test", statement_timeout_ms=300, pool_size=1)
    engine = make_engine(crdb(fresh_db), options=db)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("show application_name")).scalar() == "cm-deploy-test"
            assert conn.execute(text("show statement_timeout")).scalar() == "300ms"
            with pytest.raises(OperationalError, match="statement timeout"):
                conn.execute(text("select pg_sleep(3)"))
    finally:
        engine.dispose()


def test_sslmode_reaches_libpq(fresh_db: str) -> None:
    engine = make_engine(fresh_db, options=DbSettings(sslmode="require"))
    try:
        with pytest.raises(OperationalError, match=r"(?i)ssl"):
            engine.connect()
    finally:
        engine.dispose()
