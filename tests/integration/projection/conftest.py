"""Fixtures of the projection tests (PostgreSQL access and control).

- `pg_base_url`: the PostgreSQL server of the suite: env `CYBERMESH_PG_URL`, else the shared
  `pg_url` fixture of tests/conftest.py (foundation-infra); skipped when neither exists.
- `fresh_pg_url`: a factory making a new, empty database on that server (CREATE DATABASE) and
  returning its URL with the requested driver prefix; the databases are dropped at the end.
- `pg_control`: stop()/start() of that server, for the fault test. It runs the command in env
  `CYBERMESH_PG_CONTROL` with `{action}` replaced by stop|start, else `scripts/postgres
  stop|start` (foundation-infra's script) when it exists; skipped otherwise.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from projection_pg import PgControl
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from cybermesh.storage import migrate

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def pg_base_url(request: pytest.FixtureRequest) -> str:
    env = os.environ.get("CYBERMESH_PG_URL")
    if env:
        return env
    try:
        return str(request.getfixturevalue("pg_url"))
    except pytest.FixtureLookupError:
        pytest.skip("no PostgreSQL: set CYBERMESH_PG_URL or provide the pg_url fixture")


@pytest.fixture(scope="session")
def fresh_pg_url(pg_base_url: str) -> Iterator[Callable[..., str]]:
    base = make_url(pg_base_url).set(drivername="postgresql+psycopg")
    admin = create_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    made: list[str] = []

    def make(driver: str = "postgresql+psycopg", *, migrated: bool = True) -> str:
        name = "cmproj_" + uuid.uuid4().hex[:12]
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        url = base.set(drivername=driver, database=name).render_as_string(hide_password=False)
        if migrated:
            migrate.upgrade(url)
        return url

    yield make
    with admin.connect() as conn:
        for name in made:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def pg_control(pg_base_url: str) -> PgControl:
    env = os.environ.get("CYBERMESH_PG_CONTROL")
    if env:
        return PgControl(env)
    script = REPO / "scripts" / "postgres"
    if script.exists():
        return PgControl([str(script)])
    pytest.skip("cannot stop/start PostgreSQL: set CYBERMESH_PG_CONTROL or add scripts/postgres")
    raise AssertionError("unreachable")
