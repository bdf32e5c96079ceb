"""Fixtures of the ingest integration tests (real broker, real worker subprocess)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def ingest_bootstrap(request: pytest.FixtureRequest) -> str:
    """The shared `kafka_bootstrap` fixture when present, else CYBERMESH_KAFKA_BOOTSTRAP."""
    try:
        value: str = request.getfixturevalue("kafka_bootstrap")
        return value
    except pytest.FixtureLookupError:
        env = os.environ.get("CYBERMESH_KAFKA_BOOTSTRAP")
        if not env:
            pytest.skip("no Kafka broker (kafka_bootstrap fixture or CYBERMESH_KAFKA_BOOTSTRAP)")
        return env
