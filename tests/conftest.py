"""Shared test fixtures: the real local Kafka broker and PostgreSQL (owned by foundation-infra).

Fixtures (tests using them carry `@pytest.mark.kafka` / `@pytest.mark.postgres`):

1. `kafka_bootstrap` (session): "127.0.0.1:PORT" of a real broker. Taken from env
   `CYBERMESH_KAFKA_BOOTSTRAP` (scripts/test sets it), else `scripts/kafka start` (which reuses
   a running broker); a broker this fixture started is stopped at the end of the session unless
   `CYBERMESH_KEEP_SERVICES=1`.
2. `pg_url` (session): SQLAlchemy URL `postgresql+psycopg://...` of a real PostgreSQL database.
   Env `CYBERMESH_PG_URL`, else `scripts/postgres start`; same stop rule as above.
3. `new_topic` (function): async factory, `await new_topic("base", partitions=1) -> str`,
   creating a uniquely named topic (replication 1) whose partitions all have leaders.

Raw produce/consume helpers live in tests/harness.py (`produce_raw`, `consume_raw`).
Fixtures of a single area belong in that area's own tests/<folder>/conftest.py.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Protocol

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from tests.harness import create_topic, unique_topic_name

ROOT = Path(__file__).resolve().parents[1]


class NewTopic(Protocol):
    """The `new_topic` fixture's type: `await new_topic("base", partitions=1) -> name`."""

    def __call__(
        self, base: str, partitions: int = 1, *, configs: dict[str, str] | None = None
    ) -> Awaitable[str]: ...


def _script(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts" / name), *args],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def _service(name: str, env_var: str) -> Iterator[str]:
    """Yield the service address from `env_var`, or start it with scripts/<name> (and stop it)."""
    given = os.environ.get(env_var)
    if given:
        yield given
        return
    was_running = _script(name, "status").returncode == 0
    started = _script(name, "start")
    if started.returncode != 0:
        pytest.fail(
            f"scripts/{name} start failed (exit {started.returncode}):\n{started.stderr}",
            pytrace=False,
        )
    address = started.stdout.strip().splitlines()[-1]
    try:
        yield address
    finally:
        if not was_running and os.environ.get("CYBERMESH_KEEP_SERVICES") != "1":
            _script(name, "stop")


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    yield from _service("kafka", "CYBERMESH_KAFKA_BOOTSTRAP")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    yield from _service("postgres", "CYBERMESH_PG_URL")


@pytest.fixture
async def new_topic(kafka_bootstrap: str) -> AsyncIterator[Callable[..., Awaitable[str]]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()

    async def make(base: str, partitions: int = 1, *, configs: dict[str, str] | None = None) -> str:
        return await create_topic(admin, unique_topic_name(base), partitions, configs=configs)

    try:
        yield make
    finally:
        await admin.close()
