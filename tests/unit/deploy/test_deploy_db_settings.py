"""The `db` settings reach SQLAlchemy and psycopg as intended (no database needed).

What psycopg would be called with is captured by a `do_connect` listener that stops before a
socket is opened, for both `cockroachdb+psycopg://` and `postgresql+psycopg://` URLs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from cybermesh.config import ConfigError, DbSettings, load_settings
from cybermesh.storage.engine import engine_options, make_engine


class Stop(Exception):
    pass


def connect_params(url: str, db: DbSettings) -> dict[str, Any]:
    engine = make_engine(url, options=db)
    seen: dict[str, Any] = {}

    @event.listens_for(engine, "do_connect")
    def _capture(_dialect: Any, _rec: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        seen.update(cparams)
        raise Stop

    with pytest.raises(Stop):
        engine.connect()
    engine.dispose()
    return seen


@pytest.fixture
def certs(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name in ("ca.crt", "client.root.crt", "client.root.key"):
        (tmp_path / name).write_text("-----BEGIN CERTIFICATE-----\n")
        out[name] = tmp_path / name
    return out


@pytest.mark.parametrize("scheme", ["cockroachdb+psycopg", "postgresql+psycopg"])
def test_tls_timeouts_and_name_reach_psycopg(scheme: str, certs: dict[str, Path]) -> None:
    db = load_settings(db={
        "sslmode": "verify-full", "sslrootcert": str(certs["ca.crt"]),
        "sslcert": str(certs["client.root.crt"]), "sslkey": str(certs["client.root.key"]),
        "statement_timeout_ms": 5000, "application_name": "cybermesh-v3", "connect_timeout_s": 7,
    }).db
    params = connect_params(f"{scheme}://root@crdb-0.example:26257/cybermesh", db)
    assert params["host"] == "crdb-0.example" and params["port"] == 26257
    assert params["dbname"] == "cybermesh" and params["user"] == "root"
    assert params["sslmode"] == "verify-full"
    assert params["sslrootcert"] == str(certs["ca.crt"])
    assert params["sslcert"] == str(certs["client.root.crt"])
    assert params["sslkey"] == str(certs["client.root.key"])
    assert params["options"] == "-c statement_timeout=5000"
    assert params["application_name"] == "cybermesh-v3"
    assert params["connect_timeout"] == 7


def test_url_query_parameters_are_kept_and_settings_override_them(certs: dict[str, Path]) -> None:
    url = (f"cockroachdb+psycopg://app:s3cret@lb:26257/cm?sslmode=require"
           f"&sslrootcert={certs['ca.crt']}")
    params = connect_params(url, DbSettings())
    assert params["sslmode"] == "require" and params["sslrootcert"] == str(certs["ca.crt"])
    assert params["password"] == "s3cret"
    params = connect_params(url, DbSettings(sslmode="verify-full", sslrootcert=certs["ca.crt"]))
    assert params["sslmode"] == "verify-full"


def test_pool_options() -> None:
    opts = engine_options(DbSettings(pool_size=8, max_overflow=4, pool_recycle_s=600, pool_timeout_s=9))
    assert {k: opts[k] for k in ("pool_size", "max_overflow", "pool_recycle", "pool_timeout")} == {
        "pool_size": 8, "max_overflow": 4, "pool_recycle": 600, "pool_timeout": 9}
    assert opts["isolation_level"] == "SERIALIZABLE" and opts["pool_pre_ping"] is True
    engine = make_engine("cockroachdb+psycopg://root@h:26257/d", options=DbSettings(pool_size=8))
    assert engine.pool.size() == 8  # type: ignore[attr-defined]
    assert engine.dialect.name == "cockroachdb" and engine.dialect.driver == "psycopg"
    engine.dispose()
    assert engine_options(DbSettings(statement_timeout_ms=0))["connect_args"].get("options") is None


@pytest.mark.parametrize(
    ("db", "field"),
    [
        ({"sslmode": "verify-full"}, "db.sslrootcert is required with db.sslmode verify-full"),
        ({"sslcert": "/nonexistent/c.crt"}, "db.sslcert: Value error, '/nonexistent/c.crt' is not a readable file"),
        ({"statement_timeout_ms": -1}, "db.statement_timeout_ms"),
        ({"application_name": "bad name"}, "db.application_name"),
    ],
)
def test_bad_db_settings_name_the_field(db: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings(db=db)
    assert field in str(exc.value)


def test_sslcert_needs_sslkey(certs: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match=r"db\.sslcert and db\.sslkey go together"):
        load_settings(db={"sslcert": str(certs["client.root.crt"])})


def test_production_example_loads(tmp_path: Path) -> None:
    """docs/examples/production.toml is valid once the files it names exist."""
    import tomllib

    root = Path(__file__).resolve().parents[3]
    text = (root / "docs/examples/production.toml").read_text().replace("/etc/cybermesh", str(tmp_path))
    data = tomllib.loads(text)
    for path in (data["kafka"]["ssl_cafile"], data["kafka"]["sasl_password_file"],
                 data["db"]["sslrootcert"], data["db"]["sslcert"], data["db"]["sslkey"]):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text("x\n")
    settings = load_settings(**data)
    assert settings.kafka.security_protocol == "SASL_SSL" and settings.kafka.min_insync_replicas == 2
    assert settings.db.sslmode == "verify-full"
    assert settings.db_url.startswith("cockroachdb+psycopg://")
