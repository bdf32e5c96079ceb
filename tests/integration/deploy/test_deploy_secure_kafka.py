"""The ingest path over a secured broker (scripts/kafka --secure: TLS + SASL_SSL, auto topic
creation off), and the refusals of a wrong password and an untrusted CA with messages that name
the setting.

1. A worker (`faust -A cybermesh.app worker`, ingest only) configured for SASL_SSL SCRAM-SHA-512
   passes its start-up checks (creating its topics on a broker that does not auto-create) and
   admits signed anomalies published by `cybermesh produce` over SASL_SSL.
2. A wrong password: `cybermesh produce` exits 3 naming kafka.sasl_password_file; a worker
   refuses to start (exit 78) naming kafka.sasl_password.
3. An untrusted CA file: both refuse naming kafka.ssl_cafile.
4. The other client modes of the one options function: PLAIN over SASL_SSL, and TLS with a
   client certificate on the SSL listener (in-process start-up check + idempotent producer).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from cybermesh.cli import main as cli_main
from cybermesh.config import load_settings
from cybermesh.kafka.client import producer_options
from cybermesh.startup import StartupRefused, check_kafka
from cybermesh.wire import topics
from tests.admission_kit import make_genesis
from tests.ingest_worker import Worker
from tests.integration.deploy.conftest import SecureBroker

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[3]
CLI = Path(sys.executable).with_name("cybermesh")
A = topics.ANOMALIES


def key_file(path: Path, n: int) -> Path:
    """The admission kit's key number n as a seed file."""
    path.write_text(hashlib.sha256(b"admission-kit/%d" % n).hexdigest() + "\n")
    path.chmod(0o600)
    return path


def produce(env: dict[str, str], key: Path, prefix: str, count: int) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("CYBERMESH_")}
    full.update(env)
    full["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [str(CLI), "produce", "--key", str(key), "--producer-id", "det-1", "--count", str(count),
         "--topic", A, "--topic-map", f"{A}={prefix}{A}", "--quiet"],
        env=full, capture_output=True, text=True, timeout=120, check=False, cwd=ROOT,
    )


def worker(secure_kafka: SecureBroker, base: Path, **kafka: Any) -> Worker:
    w = Worker(secure_kafka.sasl_bootstrap, make_genesis([("det-1", 1, [A])]), base)
    w.env.update(secure_kafka.scram_env(**kafka))
    return w


async def test_ingest_over_sasl_ssl(secure_kafka: SecureBroker, tmp_path: Path) -> None:
    w = worker(secure_kafka, tmp_path / "w")
    w.start()
    try:
        await w.wait_ready(timeout_s=120)
        done = produce(secure_kafka.scram_env(), key_file(tmp_path / "det.key", 1), w.prefix, 20)
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)
        assert summary["published"] == 20
        state = await w.wait_count(20, timeout_s=60)
        assert state["count"] == 20, (state, w.tail())
        assert f'cybermesh_admitted_total{{topic="{A}"}} 20.0' in w.metrics()
        # the image's HEALTHCHECK command against this real worker
        assert cli_main(["health", "--url", f"http://127.0.0.1:{w.port}/api/v1/health"]) == 0
    finally:
        w.stop()
    log = w.tail(200_000)
    assert "refusing to start" not in log
    assert secure_kafka.client.joinpath("scram.password").read_text().strip() not in log


async def test_wrong_password_is_refused(secure_kafka: SecureBroker, tmp_path: Path) -> None:
    bad = tmp_path / "wrong.password"
    bad.write_text("not-the-password\n")
    done = produce(
        secure_kafka.scram_env(sasl_password_file=str(bad)), key_file(tmp_path / "k", 1), "x-", 1
    )
    assert done.returncode == 3, done.stderr
    assert (
        "kafka.sasl_password_file: the broker at 127.0.0.1:"
        in done.stderr
    ), done.stderr
    assert "refused the SASL SCRAM-SHA-512 login of user 'cybermesh'" in done.stderr

    w = worker(secure_kafka, tmp_path / "w")
    del w.env["CYBERMESH_KAFKA__SASL_PASSWORD_FILE"]
    w.env["CYBERMESH_KAFKA__SASL_PASSWORD"] = "not-the-password"
    w.start()
    assert w.proc is not None
    assert w.proc.wait(120) == 78, w.tail()
    log = w.tail()
    assert "cybermesh: refusing to start: kafka.sasl_password: the broker at" in log, log
    assert "not-the-password" not in log


async def test_untrusted_ca_is_refused(secure_kafka: SecureBroker, tmp_path: Path) -> None:
    env = secure_kafka.scram_env(ssl_cafile=str(secure_kafka.untrusted_ca))
    done = produce(env, key_file(tmp_path / "k", 1), "x-", 1)
    assert done.returncode == 3, done.stderr
    assert "kafka.ssl_cafile: the certificate of the broker at 127.0.0.1:" in done.stderr, done.stderr
    assert "is not trusted by " + str(secure_kafka.untrusted_ca) in done.stderr

    w = worker(secure_kafka, tmp_path / "w", ssl_cafile=str(secure_kafka.untrusted_ca))
    w.start()
    assert w.proc is not None
    assert w.proc.wait(120) == 78, w.tail()
    assert "cybermesh: refusing to start: kafka.ssl_cafile: the certificate of the broker" in w.tail()


async def _round_trip(kafka: dict[str, object], prefix: str) -> list[str]:
    settings = load_settings(kafka=kafka, ingest={"topic_prefix": prefix})
    created = await check_kafka(settings)
    producer = AIOKafkaProducer(**producer_options(settings.kafka))
    await producer.start()
    try:
        md = await producer.send_and_wait(prefix + topics.CONTROL_COMMITS, b"v", key=b"k")
        assert md.offset == 0
    finally:
        await producer.stop()
    return created


async def test_plain_mechanism_and_client_certificate(secure_kafka: SecureBroker) -> None:
    plain = secure_kafka.scram(
        sasl_mechanism="PLAIN", sasl_username="cybermesh-plain",
        sasl_password_file=secure_kafka.client / "plain.password",
    )
    created = await _round_trip(plain, f"plain{os.getpid()}-{id(plain)}-")
    assert len(created) == 11  # 3 ai.* + 3 DLQs + ledger + 4 control
    mtls = {
        "bootstrap": secure_kafka.ssl_bootstrap, "security_protocol": "SSL",
        "ssl_cafile": secure_kafka.ca, "ssl_certfile": secure_kafka.client / "client.pem",
        "ssl_keyfile": secure_kafka.client / "client.key",
    }
    assert len(await _round_trip(mtls, f"mtls{os.getpid()}-{id(mtls)}-")) == 11
    with pytest.raises(StartupRefused, match=r"^kafka\.sasl_password: the broker at .* PLAIN login"):
        await check_kafka(load_settings(kafka={**plain, "sasl_password_file": None, "sasl_password": "x"}))


def test_no_event_loop_left_behind() -> None:
    """The start-up checks run on a loop of their own (Faust makes its own later)."""
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()


async def test_protocol_mix_ups_name_security_protocol(secure_kafka: SecureBroker) -> None:
    """A TLS-only client on the SASL_SSL listener, and a plaintext client on the TLS listener."""
    ssl_on_sasl = {"bootstrap": secure_kafka.sasl_bootstrap, "security_protocol": "SSL",
                   "ssl_cafile": secure_kafka.ca, "connect_timeout_ms": 5000}
    with pytest.raises(StartupRefused, match=r"^kafka\.security_protocol: the broker at 127\.0\.0\.1:\d+ accepted"):
        await check_kafka(load_settings(kafka=ssl_on_sasl))
    plain_on_tls = {"bootstrap": secure_kafka.ssl_bootstrap, "connect_timeout_ms": 5000}
    with pytest.raises(StartupRefused, match=r"^kafka\.security_protocol: .* a PLAINTEXT listener\?"):
        await check_kafka(load_settings(kafka=plain_on_tls))
