"""`cybermesh.localnet.prepare`: keys, genesis and per-validator TOML (no broker needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cybermesh.config import load_settings
from cybermesh.genesis_io import load_genesis
from cybermesh.keys import load_signing_key
from cybermesh.localnet import LocalnetError, Plan, prepare


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in [k for k in os.environ if k.startswith("CYBERMESH_")]:
        monkeypatch.delenv(name)


def test_prepare_writes_a_consistent_network(tmp_path: Path) -> None:
    plan = prepare(tmp_path / "net", 4, bootstrap="127.0.0.1:39999", base_port=46500, db_url=None,
                   topic_prefix="t-", now_ms=1_767_225_600_000)  # fmt: skip
    genesis = load_genesis(plan.genesis)
    assert [v.id for v in genesis.validators] == ["v0", "v1", "v2", "v3"] and genesis.quorum == 3
    assert [p.producer_id for p in genesis.producers] == ["load-0"]
    assert bytes(load_signing_key(plan.producer_key).verify_key) == genesis.producers[0].pubkey
    for i, (m, v) in enumerate(zip(plan.members, genesis.validators, strict=True)):
        s = load_settings(m.config)
        assert (s.validator_id, s.web_port, s.web_bind) == (f"v{i}", 46500 + i, "127.0.0.1")
        assert s.p2p.listen == f"/ip4/127.0.0.1/tcp/{46600 + i}" == v.address
        assert s.kafka.bootstrap == "127.0.0.1:39999" and s.ingest.topic_prefix == "t-"
        assert s.db_url == f"sqlite:///{tmp_path / 'net' / f'v{i}' / 'projection.db'}"
        assert bytes(load_signing_key(s.consensus_key_path).verify_key) == v.consensus_pubkey
        assert bytes(load_signing_key(s.node_key_path).verify_key) == v.node_pubkey
    assert plan.new_chain
    names = dict(plan.topic_names())
    assert names["t-ledger.blocks.v1"] == 1 and names["t-ai.anomalies.v1.dlq"] == 1 and len(names) == 11
    assert Plan.load(plan.dir) == plan


def test_prepare_is_idempotent_and_refuses_another_validator_set(tmp_path: Path) -> None:
    first = prepare(tmp_path, 2, bootstrap="127.0.0.1:39999", base_port=46500, db_url="sqlite:///x.db")
    genesis = Path(first.genesis).read_bytes()
    again = prepare(tmp_path, 2, bootstrap="127.0.0.1:39999", base_port=46500, db_url="sqlite:///x.db")
    assert Path(again.genesis).read_bytes() == genesis and not again.new_chain
    assert all(m.db_url == "sqlite:///x.db" for m in again.members)
    with pytest.raises(LocalnetError, match="holds a localnet"):
        prepare(tmp_path, 3, bootstrap="127.0.0.1:39999", base_port=46500, db_url=None)


def test_a_worker_that_died_on_a_stale_changelog_gets_advice(tmp_path: Path) -> None:
    from cybermesh.localnet import _hint

    plan = prepare(tmp_path / "net", 1, bootstrap="127.0.0.1:39999", base_port=26500, db_url=None,
                   topic_prefix="", id_prefix="v", partitions=1, broker_started=False)  # fmt: skip
    m = plan.members[0]
    Path(m.log).parent.mkdir(parents=True, exist_ok=True)
    Path(m.log).write_text("[INFO] Ready\n")
    assert _hint(m) == ""
    Path(m.log).write_text("faust.exceptions.ConsistencyError: The persisted offset for changelog topic partition\n")
    assert "localnet down --purge" in _hint(m)
