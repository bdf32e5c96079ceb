"""scripts/kafka and scripts/postgres: idempotent start, status, and stop that spares others."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.harness import consume_raw, produce_raw

ROOT = Path(__file__).resolve().parents[2]


def run(
    script: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts" / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )


def port_env(prefix: str, address: str) -> dict[str, str]:
    """Point the script at the port of the service the fixtures use."""
    port = address.rsplit(":", 1)[1].split("/", 1)[0]
    return {f"CYBERMESH_{prefix}_PORT": port}


@pytest.mark.kafka
async def test_kafka_start_twice_reuses_and_status_answers(kafka_bootstrap: str) -> None:
    env = port_env("KAFKA", kafka_bootstrap)
    first, second = run("kafka", "start", env=env), run("kafka", "start", env=env)
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert first.stdout.strip() == second.stdout.strip() == kafka_bootstrap
    assert "reused" in second.stderr
    status = run("kafka", "status", env=env)
    assert status.returncode == 0 and kafka_bootstrap in status.stdout


@pytest.mark.kafka
async def test_kafka_stop_leaves_a_broker_it_did_not_start(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    env = {**port_env("KAFKA", kafka_bootstrap), "CYBERMESH_KAFKA_DIR": str(tmp_path / "k")}
    stopped = run("kafka", "stop", env=env)
    assert stopped.returncode == 0, stopped.stderr
    assert "left alone" in stopped.stderr
    assert run("kafka", "status").returncode == 0 or run("kafka", "status", env=env).returncode == 0
    topic = f"infra-alive-{uuid.uuid4().hex[:12]}"
    await produce_raw(kafka_bootstrap, topic, [b"still here"])
    assert [r.value for r in await consume_raw(kafka_bootstrap, topic, 1, timeout=30)] == [
        b"still here"
    ]


@pytest.mark.kafka
async def test_kafka_topics_create_is_idempotent(kafka_bootstrap: str, tmp_path: Path) -> None:
    env = port_env("KAFKA", kafka_bootstrap)
    name = f"infra-script-topic-{uuid.uuid4().hex[:12]}"
    made = run("kafka", "topics-create", "--partitions", "2", name, env=env)
    again = run("kafka", "topics-create", "--partitions", "2", name, env=env)
    assert made.returncode == 0 and f"created {name}" in made.stdout, made.stderr
    assert again.returncode == 0 and f"exists  {name}" in again.stdout, again.stderr


def test_kafka_usage_error_exits_2() -> None:
    assert run("kafka", "no-such-command").returncode == 2
    assert run("postgres", "no-such-command").returncode == 2


@pytest.mark.postgres
def test_postgres_start_twice_reuses(pg_url: str) -> None:
    env = {"CYBERMESH_PG_PORT": pg_url.rsplit(":", 1)[1].split("/", 1)[0]}
    again = run("postgres", "start", env=env)
    assert again.returncode == 0, again.stderr
    assert "reused" in again.stderr
    assert again.stdout.strip().endswith("/cybermesh_test")
    assert run("postgres", "status", env=env).returncode == 0
