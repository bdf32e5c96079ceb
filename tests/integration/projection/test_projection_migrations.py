"""The hand-written migration creates exactly the tables and columns the adapter uses."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from cybermesh.storage import migrate
from cybermesh.storage import schema as t

REPO = Path(__file__).resolve().parents[3]


def _assert_schema_matches(url: str) -> None:
    engine = create_engine(url.replace("cockroachdb+", "postgresql+"))  # reflect via PG dialect
    try:
        insp = inspect(engine)
        names = set(insp.get_table_names()) - {"alembic_version"}
        assert names == set(t.metadata.tables)
        for table in t.metadata.sorted_tables:
            cols = {c["name"]: c for c in insp.get_columns(table.name)}
            assert set(cols) == {c.name for c in table.columns}, table.name
            for col in table.columns:
                assert cols[col.name]["nullable"] == col.nullable, (table.name, col.name)
            pk = insp.get_pk_constraint(table.name)["constrained_columns"]
            assert pk == [c.name for c in table.primary_key.columns], table.name
            indexed = {tuple(ix["column_names"]) for ix in insp.get_indexes(table.name)}
            for ix in table.indexes:
                assert tuple(c.name for c in ix.columns) in indexed, ix.name
    finally:
        engine.dispose()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cybermesh", "db", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_sqlite_upgrade_current_and_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/m.db"
    assert migrate.current(url) is None
    done = _cli("current", "--url", url)
    assert done.returncode == 1 and "(none)" in done.stdout
    done = _cli("upgrade", "--url", url)
    assert done.returncode == 0, done.stderr
    assert migrate.current(url) == migrate.head() == "0001"
    done = _cli("current", "--url", url)
    assert done.returncode == 0 and "revision 0001" in done.stdout
    migrate.upgrade(url)  # idempotent
    _assert_schema_matches(url)


def test_offline_sql_is_portable() -> None:
    done = _cli("upgrade", "--sql", "--url", "cockroachdb+psycopg://u@h/db")
    assert done.returncode == 0, done.stderr
    ddl = done.stdout.upper()
    assert "CREATE TABLE BLOCKS" in ddl
    for banned in ("SERIAL", "SEQUENCE", "NOW()", "GEN_RANDOM_UUID", "DEFAULT ", "JSONB", "OID"):
        assert banned not in ddl, banned
    assert ddl.count("PRIMARY KEY") == len(t.metadata.tables) + 1  # + alembic_version


@pytest.mark.postgres
@pytest.mark.parametrize("driver", ["postgresql+psycopg", "cockroachdb+psycopg"])
def test_postgres_upgrade_through_both_dialects(
    fresh_pg_url: Callable[..., str], driver: str
) -> None:
    url = fresh_pg_url(driver, migrated=False)
    assert migrate.current(url) is None
    done = _cli("upgrade", "--url", url)
    assert done.returncode == 0, done.stderr
    done = _cli("current", "--url", url)
    assert done.returncode == 0 and "revision 0001" in done.stdout
    _assert_schema_matches(url)
