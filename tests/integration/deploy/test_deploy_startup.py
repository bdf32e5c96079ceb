"""The worker refuses to start, naming the setting (cybermesh.startup, issue 9 item 5).

Each case runs the worker's real start-up function against the real services:
`faust -A cybermesh.app worker` as a process (unreachable broker), or `cybermesh.app.
checked_start()` in-process with the settings in the environment, which is what the worker
runs when Faust first asks for `cybermesh.app:app`.

1. Unreachable broker (a closed port): `kafka.bootstrap: no Kafka broker answers at ...`.
2. A missing topic it cannot create (replication factor 3 on a one-broker cluster):
   `kafka.replication_factor: topic '...' is missing and could not be created ...`.
3. A genesis that does not contain its own key: `consensus_key_path: ...`, `node_key_path: ...`;
   a validator id that is not in genesis: `validator_id: ...`.
4. A database on an older migration: `db_url: the database ... is at migration ..., this
   version needs ...: run `cybermesh db upgrade``; the same through a cockroachdb+psycopg://
   URL; with db.migrate_on_start = true the worker migrates it instead.
5. An Ed25519 verifier that decides a self-check vector against the acceptance rule (here a
   stand-in that accepts everything): `ed25519: the native verifier decides ...`.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cybermesh import app as app_module
from cybermesh.config import Settings
from cybermesh.storage import migrate
from tests.admission_kit import make_genesis
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[3]
FAUST = Path(sys.executable).with_name("faust")


def closed_port() -> int:
    """A loopback port in this workstream's range with nothing listening."""
    return free_port(28900, 28999)


def seed_file(path: Path, n: int) -> Path:
    path.write_text(hashlib.sha256(b"admission-kit/%d" % n).hexdigest() + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A validator's settings as env vars (genesis of tests.admission_kit: v0 has keys 100/101),
    also applied to this process for in-process `checked_start()` calls."""
    (tmp_path / "genesis.json").write_text(json.dumps(make_genesis().to_json()))
    tag = "st" + uuid.uuid4().hex[:10]
    env = {
        "CYBERMESH_VALIDATOR_ID": "v0",
        "CYBERMESH_APP_ID": f"cybermesh-{tag}",
        "CYBERMESH_GENESIS_PATH": str(tmp_path / "genesis.json"),
        "CYBERMESH_CONSENSUS_KEY_PATH": str(seed_file(tmp_path / "consensus.key", 100)),
        "CYBERMESH_NODE_KEY_PATH": str(seed_file(tmp_path / "node.key", 101)),
        "CYBERMESH_DATA_DIR": str(tmp_path / "data"),
        "CYBERMESH_INGEST__TOPIC_PREFIX": tag + "-",
        "CYBERMESH_DB_URL": f"sqlite:///{tmp_path / 'projection.db'}",
        "CYBERMESH_KAFKA__CONNECT_TIMEOUT_MS": "5000",
    }
    # settings from the outer environment must not leak in (service addresses for the fixtures,
    # e.g. CYBERMESH_KAFKA_BOOTSTRAP, are not settings and stay)
    fields = {f"CYBERMESH_{name.upper()}" for name in Settings.model_fields} | {"CYBERMESH_CONFIG"}
    for k in [k for k in os.environ if k in fields or (k.startswith("CYBERMESH_") and "__" in k)]:
        monkeypatch.delenv(k)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    yield env


def refused(capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        app_module.checked_start()
    assert exc.value.code == 78
    err = capsys.readouterr().err
    assert err.startswith("cybermesh: refusing to start: "), err
    return err.strip().removeprefix("cybermesh: refusing to start: ")


@pytest.mark.timeout(120)
def test_unreachable_broker_refuses_the_worker(node: dict[str, str], tmp_path: Path) -> None:
    port = closed_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CYBERMESH_")}
    env.update(node, PYTHONPATH=str(ROOT), CYBERMESH_KAFKA__BOOTSTRAP=f"127.0.0.1:{port}")
    done = subprocess.run(
        [str(FAUST), "-A", "cybermesh.app", "worker", "-l", "info", "--without-web"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=90, check=False,
    )
    assert done.returncode == 78, done.stdout + done.stderr
    assert (
        f"cybermesh: refusing to start: kafka.bootstrap: no Kafka broker answers at "
        f"127.0.0.1:{port} (connection refused)" in done.stderr
    ), done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.kafka
def test_topic_that_cannot_be_created_refuses(
    node: dict[str, str], kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CYBERMESH_KAFKA__BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("CYBERMESH_KAFKA__REPLICATION_FACTOR", "3")
    msg = refused(capsys)
    prefix = node["CYBERMESH_INGEST__TOPIC_PREFIX"]
    assert msg.startswith(
        f"kafka.replication_factor: topic '{prefix}ai.anomalies.v1' is missing and could not be "
        "created: Kafka error 38"
    ), msg


def test_genesis_without_own_key_refuses(
    node: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # the genesis check comes first: no broker is contacted
    monkeypatch.setenv("CYBERMESH_KAFKA__BOOTSTRAP", f"127.0.0.1:{closed_port()}")
    other = seed_file(tmp_path / "other.key", 7)
    monkeypatch.setenv("CYBERMESH_CONSENSUS_KEY_PATH", str(other))
    msg = refused(capsys)
    assert msg.startswith(f"consensus_key_path: the key in {other} (public key "), msg
    assert "is not validator 'v0''s key in genesis" in msg

    monkeypatch.setenv("CYBERMESH_CONSENSUS_KEY_PATH", node["CYBERMESH_CONSENSUS_KEY_PATH"])
    monkeypatch.setenv("CYBERMESH_NODE_KEY_PATH", str(other))
    assert refused(capsys).startswith(f"node_key_path: the key in {other} ")

    monkeypatch.setenv("CYBERMESH_VALIDATOR_ID", "v9")
    assert refused(capsys).startswith("validator_id: 'v9' is not a validator in genesis ")


def test_a_verifier_off_the_acceptance_rule_refuses(
    node: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    from cybermesh.wire import ed25519

    monkeypatch.setenv("CYBERMESH_KAFKA__BOOTSTRAP", f"127.0.0.1:{closed_port()}")
    monkeypatch.setattr(ed25519, "verify", lambda pk, message, sig: True)
    msg = refused(capsys)
    assert msg.startswith(f"ed25519: the {ed25519.BACKEND} verifier decides these self-check"), msg
    assert "R = identity, S = k*a (rule 3)" in msg and "valid signature" not in msg


@pytest.mark.kafka
@pytest.mark.postgres
def test_database_on_an_older_migration_refuses(
    node: dict[str, str], kafka_bootstrap: str, fresh_db: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    engine = create_engine(fresh_db)
    with engine.begin() as conn:  # what an older release would have left
        conn.execute(text("create table alembic_version (version_num varchar(32) primary key)"))
        conn.execute(text("insert into alembic_version values ('0000_older_release')"))
    engine.dispose()
    monkeypatch.setenv("CYBERMESH_KAFKA__BOOTSTRAP", kafka_bootstrap)
    head = migrate.head()
    for url in (fresh_db, fresh_db.replace("postgresql+psycopg://", "cockroachdb+psycopg://")):
        monkeypatch.setenv("CYBERMESH_DB_URL", url)
        msg = refused(capsys)
        shown = make_url(url).render_as_string(hide_password=True)
        assert msg == (
            f"db_url: the database {shown} is at migration 0000_older_release, this version "
            f"needs {head}: run `cybermesh db upgrade` first (or set db.migrate_on_start = true)"
        ), msg


@pytest.mark.kafka
@pytest.mark.postgres
def test_migrate_on_start_migrates_an_empty_database(
    node: dict[str, str], kafka_bootstrap: str, fresh_db: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CYBERMESH_KAFKA__BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("CYBERMESH_DB_URL", fresh_db)
    assert refused(capsys).startswith(f"db_url: the database {make_url(fresh_db)} is at migration (none)")
    monkeypatch.setenv("CYBERMESH_DB__MIGRATE_ON_START", "true")
    from cybermesh.config import load_settings
    from cybermesh.startup import check

    settings = load_settings()
    check(settings, app_module.load_genesis(settings.genesis_path))
    assert migrate.current(fresh_db) == migrate.head()


@pytest.mark.kafka
async def test_ledger_topic_with_finite_retention_is_reported(
    kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from cybermesh.config import load_settings
    from cybermesh.startup import check_kafka

    prefix = "ret" + uuid.uuid4().hex[:10] + "-"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(prefix + "ledger.blocks.v1", 1, 1,
                                            topic_configs={"retention.ms": "86400000"})])
    finally:
        await admin.close()
    settings = load_settings(kafka={"bootstrap": kafka_bootstrap}, ingest={"topic_prefix": prefix})
    created = await check_kafka(settings)
    assert prefix + "ledger.blocks.v1" not in created and len(created) == 10
    assert (f"ledger topic '{prefix}ledger.blocks.v1' has retention.ms=86400000: blocks older "
            "than that are deleted") in caplog.text
    caplog.clear()
    fresh = load_settings(kafka={"bootstrap": kafka_bootstrap}, ingest={"topic_prefix": prefix + "x-"})
    assert len(await check_kafka(fresh)) == 11
    assert "ledger topic" not in caplog.text


def test_bad_settings_and_genesis_refuse(
    node: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CYBERMESH_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    msg = refused(capsys)
    assert msg.startswith("invalid configuration:") and "kafka.sasl_username is required" in msg
    monkeypatch.delenv("CYBERMESH_KAFKA__SECURITY_PROTOCOL")
    monkeypatch.setenv("CYBERMESH_GENESIS_PATH", str(tmp_path / "missing.json"))
    assert refused(capsys).startswith(f"genesis_path: {tmp_path / 'missing.json'}: cannot read genesis file")
