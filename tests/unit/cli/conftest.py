"""Builders for the CLI tests: key files, a genesis file, and a fake Kafka side."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from cybermesh.commands import produce
from cybermesh.keys import write_seed
from cybermesh.producer import SignedRecord
from cybermesh.wire.signing import key_from_seed


def make_key(dir: Path, name: str) -> tuple[Path, str]:
    """A seed file derived from `name`; returns (path, pubkey hex)."""
    seed = hashlib.sha256(name.encode()).digest()
    path = dir / f"{name}.key"
    write_seed(path, seed)
    return path, bytes(key_from_seed(seed).verify_key).hex()


@pytest.fixture
def keys(tmp_path: Path) -> Callable[[str], tuple[Path, str]]:
    made: dict[str, tuple[Path, str]] = {}

    def get(name: str) -> tuple[Path, str]:
        if name not in made:
            made[name] = make_key(tmp_path, name)
        return made[name]

    return get


@pytest.fixture
def genesis_file(tmp_path: Path, keys: Callable[[str], tuple[Path, str]]) -> Path:
    """Genesis with validator v0 and producers det-1 (anomalies, evidence) and pol-1 (policy)."""
    import json

    _, c0 = keys("c0")
    _, n0 = keys("n0")
    _, det = keys("det-1")
    _, pol = keys("pol-1")
    doc = {
        "chain_id": "test",
        "genesis_time": 1,
        "validators": [
            {
                "id": "v0",
                "consensus_pubkey": c0,
                "node_pubkey": n0,
                "address": "/ip4/127.0.0.1/tcp/7100",
            }
        ],
        "producers": [
            {
                "producer_id": "det-1",
                "pubkey": det,
                "topics": ["ai.anomalies.v1", "ai.evidence.v1"],
                "roles": ["detector"],
            },
            {
                "producer_id": "pol-1",
                "pubkey": pol,
                "topics": ["ai.policy.v1"],
                "roles": ["policy_admin"],
            },
        ],
        "params": {},
    }
    path = tmp_path / "genesis.json"
    path.write_text(json.dumps(doc))
    return path


class FakeKafka:
    """Stands in for `produce.make_publisher`; records every publisher made and record sent."""

    def __init__(self) -> None:
        self.publishers = 0
        self.sent: list[tuple[str, SignedRecord]] = []
        self.bootstrap: str | None = None

    def make(self, bootstrap: str, topic_map: dict[str, str], kafka: Any = None) -> FakePublisher:
        self.publishers += 1
        self.bootstrap = bootstrap
        return FakePublisher(self, topic_map)


class FakePublisher:
    def __init__(self, kafka: FakeKafka, topic_map: dict[str, str]) -> None:
        self.kafka = kafka
        self.topic_map = topic_map

    async def __aenter__(self) -> FakePublisher:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        return None

    async def send(self, record: SignedRecord) -> asyncio.Future[Any]:
        self.kafka.sent.append((self.topic_map.get(record.topic, record.topic), record))
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        fut.set_result(SimpleNamespace(partition=0, offset=len(self.kafka.sent) - 1))
        return fut

    async def flush(self) -> None:
        return None


@pytest.fixture
def fake_kafka(monkeypatch: pytest.MonkeyPatch) -> FakeKafka:
    kafka = FakeKafka()
    monkeypatch.setattr(produce, "make_publisher", kafka.make)
    return kafka
