"""`cybermesh produce`: every rejection publishes nothing; accepted events are signed right.

The Kafka side is replaced by `FakeKafka` (conftest.py): `fake_kafka.publishers == 0` proves no
producer was even created. The real-broker path is tests/integration/test_produce_kafka.py.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cybermesh.cli import main
from cybermesh.loadgen import LoadGenerator
from cybermesh.producer import Publisher, Signer
from cybermesh.proto.v1 import ai_pb2
from cybermesh.wire.record import open_record
from cybermesh.wire.signing import key_from_seed, payload_hash
from cybermesh.wire.topics import AI_TOPICS, ANOMALIES, EVIDENCE

FakeKafka = Any  # conftest.FakeKafka (conftest modules are not importable)
Keys = Callable[[str], tuple[Path, str]]
BOOT = ["--bootstrap", "127.0.0.1:9"]


def produce(keys: Keys, *args: str, key: str = "det-1", producer: str = "det-1") -> int:
    return main(["produce", "--key", str(keys(key)[0]), "--producer-id", producer, *BOOT, *args])


def reject(
    capsys: pytest.CaptureFixture[str], fake_kafka: FakeKafka, code: int, *words: str
) -> None:
    err = capsys.readouterr().err
    assert code == 1, err
    for word in words:
        assert word in err
    assert "nothing was published" in err
    assert fake_kafka.publishers == 0
    assert fake_kafka.sent == []


ANOMALY = {"type": "port_scan", "source": "10.0.0.7", "severity": 7, "confidence": 9000}


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--topic", "ai.anomalys.v1", "--json", "{}"], ["unknown topic 'ai.anomalys.v1'"]),
        (["--topic", ANOMALIES, "--json", '{"severity": 3,'], ["--json: malformed JSON"]),
        (["--topic", ANOMALIES, "--json", "[1]"], ["event #1 is not a JSON object"]),
        (["--topic", ANOMALIES, "--json", '{"sevrity": 3}'], ["sevrity: unknown field"]),
        (["--topic", ANOMALIES, "--field", "sevrity=3"], ["sevrity: unknown field"]),
        (
            ["--topic", ANOMALIES, "--json", '{"severity": "high"}'],
            ["severity: expected an integer"],
        ),
        (
            ["--topic", ANOMALIES, "--field", "severity=high"],
            ["severity: expected a decimal integer"],
        ),
        (["--topic", ANOMALIES, "--json", '{"severity": 2.5}'], ["severity: expected an integer"]),
        (
            ["--topic", ANOMALIES, "--json", '{"severity": 11}'],
            ["severity: 11 is out of range 0..10"],
        ),
        (
            ["--topic", ANOMALIES, "--field", "confidence=10001"],
            ["confidence: 10001 bp is out of range"],
        ),
        (["--topic", ANOMALIES, "--json", '{"severity": -1}'], ["severity: -1 is out of range"]),
        (
            ["--topic", ANOMALIES, "--json", '{"payload": "zz"}'],
            ["payload: expected lowercase hex"],
        ),
        (
            [
                "--topic",
                ANOMALIES,
                "--json",
                '{"payload": "00", "payload_hash": "' + "11" * 32 + '"}',
            ],
            ["payload_hash: " + "11" * 32 + " is not SHA-256(payload)"],
        ),
        (
            ["--topic", ANOMALIES, "--json", '{"signature": "' + "00" * 64 + '"}'],
            ["signature: computed"],
        ),
        (
            ["--topic", ANOMALIES, "--json", '{"pubkey": "' + "00" * 32 + '"}'],
            ["is not the signing key's"],
        ),
        (
            ["--topic", ANOMALIES, "--json", '{"producer_id": "other"}'],
            ["differs from --producer-id"],
        ),
        (["--topic", ANOMALIES, "--json", '{"schema_version": 2}'], ["schema_version: 2"]),
        (["--topic", "ai.policy.v1", "--json", '{"action": "NUKE"}'], ["action: expected one of"]),
        (["--topic", "ai.policy.v1", "--json", '{"rule": "x"}'], ["POLICY_ACTION_UNSPECIFIED"]),
        (
            ["--topic", ANOMALIES, "--json", json.dumps([ANOMALY, {**ANOMALY, "severity": 99}])],
            ["severity: 99"],
        ),
        (["--topic", ANOMALIES, "--json-file", "/nonexistent.json"], ["cannot read"]),
        (["--topic", ANOMALIES, "--topic", EVIDENCE, "--json", "{}"], ["exactly one --topic"]),
        (["--count", "5", "--field", "severity=1"], ["do not combine"]),
        (["--topic", ANOMALIES, "--json", "{}", "--topic-map", "ai.x=y"], ["--topic-map"]),
    ],
)
def test_bad_input_is_rejected_and_nothing_is_published(
    keys: Keys,
    capsys: pytest.CaptureFixture[str],
    fake_kafka: FakeKafka,
    args: list[str],
    words: list[str],
) -> None:
    reject(capsys, fake_kafka, produce(keys, *args), *words)


def test_a_valid_event_before_a_bad_one_is_not_sent(
    keys: Keys, capsys: pytest.CaptureFixture[str], fake_kafka: FakeKafka, tmp_path: Path
) -> None:
    path = tmp_path / "events.json"
    path.write_text(json.dumps([ANOMALY, ANOMALY, {**ANOMALY, "bogus": 1}]))
    reject(
        capsys, fake_kafka, produce(keys, "--topic", ANOMALIES, "--json-file", str(path)), "bogus"
    )


def test_wrong_key_for_the_genesis_producer(
    keys: Keys, genesis_file: Path, capsys: pytest.CaptureFixture[str], fake_kafka: FakeKafka
) -> None:
    code = produce(
        keys, "--genesis", str(genesis_file), "--topic", ANOMALIES, "--json", "{}", key="pol-1"
    )
    reject(
        capsys, fake_kafka, code, "wrong key", keys("det-1")[1], keys("pol-1")[1], str(genesis_file)
    )


def test_unregistered_producer_and_forbidden_topic(
    keys: Keys, genesis_file: Path, capsys: pytest.CaptureFixture[str], fake_kafka: FakeKafka
) -> None:
    code = produce(
        keys, "--genesis", str(genesis_file), "--topic", ANOMALIES, "--json", "{}", producer="ghost"
    )
    reject(capsys, fake_kafka, code, "'ghost' is not registered")
    code = produce(
        keys,
        "--genesis",
        str(genesis_file),
        "--topic",
        "ai.policy.v1",
        "--json",
        '{"action": "POLICY_ACTION_RELEASE", "rule": "h"}',
    )
    reject(capsys, fake_kafka, code, "may not publish to ai.policy.v1")
    code = produce(keys, "--genesis", str(genesis_file), "--count", "3", "--topic", "ai.policy.v1")
    reject(capsys, fake_kafka, code, "may not publish to ai.policy.v1")


def test_bad_genesis_and_missing_key(
    keys: Keys, tmp_path: Path, capsys: pytest.CaptureFixture[str], fake_kafka: FakeKafka
) -> None:
    bad = tmp_path / "g.json"
    bad.write_text("{}")
    reject(
        capsys,
        fake_kafka,
        produce(keys, "--genesis", str(bad), "--topic", ANOMALIES),
        "g.json: genesis",
    )
    code = main(
        [
            "produce",
            "--key",
            str(tmp_path / "nokey"),
            "--producer-id",
            "x",
            *BOOT,
            "--topic",
            ANOMALIES,
        ]
    )
    reject(capsys, fake_kafka, code, "nokey: cannot read key file")


def test_bad_bootstrap_setting_names_the_field(
    keys: Keys,
    capsys: pytest.CaptureFixture[str],
    fake_kafka: FakeKafka,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CYBERMESH_KAFKA__BOOTSTRAP", "no-port")
    code = main(
        [
            "produce",
            "--key",
            str(keys("det-1")[0]),
            "--producer-id",
            "det-1",
            "--topic",
            ANOMALIES,
            "--json",
            "{}",
        ]
    )
    reject(capsys, fake_kafka, code, "kafka.bootstrap")


def test_one_event_is_signed_filled_and_keyed_by_producer(
    keys: Keys, genesis_file: Path, capsys: pytest.CaptureFixture[str], fake_kafka: FakeKafka
) -> None:
    code = produce(
        keys,
        "--genesis",
        str(genesis_file),
        "--topic",
        ANOMALIES,
        "--payload-text",
        "hi",
        "--topic-map",
        f"{ANOMALIES}=test-topic",
        *[f"--field={k}={v}" for k, v in ANOMALY.items()],
    )
    out = capsys.readouterr().out
    assert code == 0
    assert fake_kafka.publishers == 1 and fake_kafka.bootstrap == "127.0.0.1:9"
    [(kafka_topic, record)] = fake_kafka.sent
    assert kafka_topic == "test-topic" and record.key == b"det-1"
    msg = open_record(ANOMALIES, record.value)
    assert isinstance(msg, ai_pb2.Anomaly)
    assert (msg.severity, msg.confidence, msg.payload, msg.schema_version) == (7, 9000, b"hi", 1)
    assert msg.payload_hash == payload_hash(b"hi")
    assert msg.pubkey.hex() == keys("det-1")[1] and msg.nonce > 0 and msg.ts > 1_700_000_000_000
    summary = json.loads(out)
    assert summary["published"] == 1 and summary["records"][0]["tx_hash"] == record.tx_hash.hex()


def test_generated_load(
    keys: Keys, capsys: pytest.CaptureFixture[str], fake_kafka: FakeKafka
) -> None:
    assert produce(keys, "--count", "300", "--seed", "3", "--quiet") == 0
    assert json.loads(capsys.readouterr().out)["published"] == 300
    seen_ids: set[str] = set()
    nonces = []
    topics = set()
    for _, record in fake_kafka.sent:
        msg: Any = open_record(record.topic, record.value)
        topics.add(record.topic)
        nonces.append(msg.nonce)
        if record.topic == EVIDENCE:
            assert msg.refs and set(msg.refs) <= seen_ids
        if record.topic == ANOMALIES:
            seen_ids.add(msg.id)
    assert topics == set(AI_TOPICS)
    assert nonces == sorted(nonces) and len(set(nonces)) == len(nonces)


def test_dry_run_writes_verifiable_records(
    keys: Keys, tmp_path: Path, fake_kafka: FakeKafka
) -> None:
    out = tmp_path / "records.jsonl"
    assert (
        produce(keys, "--count", "40", "--seed", "1", "--topic", ANOMALIES, "--out", str(out)) == 0
    )
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 40 and fake_kafka.publishers == 0
    for line in lines:
        assert line["topic"] == ANOMALIES and line["key"] == "det-1"
        open_record(ANOMALIES, bytes.fromhex(line["value_hex"]))


def test_loadgen_is_reproducible_from_its_seed() -> None:
    a = LoadGenerator(random.Random(5), AI_TOPICS, "r")
    b = LoadGenerator(random.Random(5), AI_TOPICS, "r")
    assert [a.next() for _ in range(200)] == [b.next() for _ in range(200)]
    c = LoadGenerator(random.Random(6), AI_TOPICS, "r")
    assert [a.next() for _ in range(50)] != [c.next() for _ in range(50)]


def test_signer_fills_in_order() -> None:
    clock = iter(range(1000, 2000))
    signer = Signer(key_from_seed(bytes(32)), "p", clock=lambda: next(clock))
    r1 = signer.build(EVIDENCE, {"refs": ["a"]})
    r2 = signer.build(EVIDENCE, {"refs": ["a"], "id": "mine", "ts": 5})
    m1: Any = open_record(EVIDENCE, r1.value)
    m2: Any = open_record(EVIDENCE, r2.value)
    assert m2.nonce == m1.nonce + 1 and m1.id == f"p-{m1.nonce}" and m2.id == "mine"
    assert (m1.ts, m2.ts) == (1000, 5)


async def test_publisher_asks_for_an_idempotent_acks_all_producer() -> None:
    made: list[dict[str, Any]] = []

    class Producer:
        def __init__(self, **kwargs: Any) -> None:
            made.append(kwargs)

        async def start(self) -> None:
            return None

        async def stop(self) -> None:
            return None

    async with Publisher("h:1", factory=Producer):
        pass
    assert made[0]["enable_idempotence"] is True and made[0]["acks"] == "all"
    assert made[0]["bootstrap_servers"] == "h:1"


def test_load_with_genesis_uses_only_the_producers_topics(
    keys: Keys, genesis_file: Path, capsys: pytest.CaptureFixture[str], fake_kafka: FakeKafka
) -> None:
    assert (
        produce(keys, "--genesis", str(genesis_file), "--count", "200", "--seed", "2", "--quiet")
        == 0
    )
    assert {record.topic for _, record in fake_kafka.sent} == {ANOMALIES, EVIDENCE}
    assert len(fake_kafka.sent) == 200
