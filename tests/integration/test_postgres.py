"""The real local PostgreSQL through SQLAlchemy, with both dialects the projection uses.

`postgresql+psycopg://` (tests) and `cockroachdb+psycopg://` (production dialect, which
connects to PostgreSQL too: DESIGN §7), each with isolation_level="SERIALIZABLE".
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg.errors
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

pytestmark = pytest.mark.postgres

DIALECTS = ["postgresql+psycopg", "cockroachdb+psycopg"]


@pytest.fixture(params=DIALECTS)
def engine(request: pytest.FixtureRequest, pg_url: str) -> Iterator[Engine]:
    url = sa.make_url(pg_url).set(drivername=request.param)
    eng = sa.create_engine(url, isolation_level="SERIALIZABLE")
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def table(engine: Engine) -> Iterator[str]:
    name = f"infra_{uuid.uuid4().hex[:12]}"
    with engine.begin() as conn:
        conn.execute(sa.text(f"create table {name} (k text primary key, v bigint not null)"))
        conn.execute(sa.text(f"insert into {name} values ('a', 1), ('b', 1)"))
    try:
        yield name
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"drop table {name}"))


def test_connects_serializable_and_round_trips(engine: Engine, table: str) -> None:
    with engine.begin() as conn:
        level = conn.execute(sa.text("show transaction_isolation")).scalar_one()
        conn.execute(sa.text(f"update {table} set v = v + 41 where k = 'a'"))
    assert level == "serializable"
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"select k, v from {table} order by k")).all()
    assert [tuple(r) for r in rows] == [("a", 42), ("b", 1)]


def test_write_skew_is_refused_with_sqlstate_40001(engine: Engine, table: str) -> None:
    """Two transactions each read both rows and write one: SERIALIZABLE must abort one."""
    c1, c2 = engine.connect(), engine.connect()
    try:
        t1, t2 = c1.begin(), c2.begin()
        s1 = c1.execute(sa.text(f"select sum(v) from {table}")).scalar_one()
        s2 = c2.execute(sa.text(f"select sum(v) from {table}")).scalar_one()
        c1.execute(sa.text(f"update {table} set v = :s where k = 'a'"), {"s": s1})
        c2.execute(sa.text(f"update {table} set v = :s where k = 'b'"), {"s": s2})
        t1.commit()
        with pytest.raises(sa.exc.OperationalError) as caught:
            t2.commit()
        assert isinstance(caught.value.orig, psycopg.errors.SerializationFailure)
        assert caught.value.orig.sqlstate == "40001"
    finally:
        c1.close()
        c2.close()
