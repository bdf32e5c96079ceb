"""Fixtures of the deployment tests: the secured test broker (`scripts/kafka --secure`).

`secure_kafka` (session): the broker's addresses and client files. From env
`CYBERMESH_KAFKA_SECURE_DIR` (scripts/test starts the broker and sets it), else started here with
`scripts/kafka --secure start` (reused when running) and stopped at the end if this fixture
started it (unless CYBERMESH_KEEP_SERVICES=1).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "kafka"


@dataclass(frozen=True)
class SecureBroker:
    dir: Path
    sasl_bootstrap: str
    """SASL_SSL listener (SCRAM-SHA-512 user `cybermesh`, PLAIN user `cybermesh-plain`)."""
    ssl_bootstrap: str
    """SSL listener (client certificates requested, optional)."""

    @property
    def client(self) -> Path:
        return self.dir / "client"

    @property
    def ca(self) -> Path:
        return self.client / "ca.pem"

    @property
    def untrusted_ca(self) -> Path:
        return self.client / "untrusted-ca.pem"

    def scram(self, **over: object) -> dict[str, object]:
        """`kafka` settings for the SCRAM-SHA-512 user over SASL_SSL."""
        base: dict[str, object] = {
            "bootstrap": self.sasl_bootstrap,
            "security_protocol": "SASL_SSL",
            "ssl_cafile": self.ca,
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_username": "cybermesh",
            "sasl_password_file": self.client / "scram.password",
        }
        return {**base, **over}

    def scram_env(self, **over: str) -> dict[str, str]:
        """The same as CYBERMESH_KAFKA__* environment variables."""
        return {f"CYBERMESH_KAFKA__{k.upper()}": str(v) for k, v in self.scram(**over).items()}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), "--secure", *args], capture_output=True, text=True, timeout=900,
        check=False, stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="session")
def secure_kafka() -> Iterator[SecureBroker]:
    given = os.environ.get("CYBERMESH_KAFKA_SECURE_DIR")
    port = int(os.environ.get("CYBERMESH_KAFKA_SECURE_PORT", "48591"))
    broker = SecureBroker(
        Path(given) if given else ROOT / ".local" / "kafka-secure",
        f"127.0.0.1:{port + 1}",
        f"127.0.0.1:{port}",
    )
    if given:
        yield broker
        return
    was_running = _run("status").returncode == 0
    started = _run("start")
    if started.returncode != 0:
        pytest.fail(f"scripts/kafka --secure start failed:\n{started.stderr}", pytrace=False)
    try:
        yield broker
    finally:
        if not was_running and os.environ.get("CYBERMESH_KEEP_SERVICES") != "1":
            _run("stop")


@pytest.fixture
def fresh_db(pg_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on the test server (dropped afterwards)."""
    name = "deploy_" + uuid.uuid4().hex[:12]
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'create database "{name}"'))
    try:
        yield make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'drop database "{name}" with (force)'))
        admin.dispose()
