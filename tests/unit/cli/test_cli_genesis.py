"""`cybermesh genesis` (build, validate) and cybermesh.genesis_io."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from cybermesh.cli import main
from cybermesh.genesis import GenesisError
from cybermesh.genesis_io import load_genesis

Keys = Callable[[str], tuple[Path, str]]


def validator(keys: Keys, i: int, **over: str) -> str:
    spec = {
        "id": f"v{i}",
        "consensus": f"@{keys(f'c{i}')[0]}",
        "node": keys(f"n{i}")[1],
        "address": f"/ip4/127.0.0.1/tcp/{7100 + i}",
    }
    spec.update(over)
    return ",".join(f"{k}={v}" for k, v in spec.items())


def test_build_and_validate(tmp_path: Path, keys: Keys, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "g.json"
    argv = ["genesis", "--chain-id", "local", "--genesis-time", "1767225600000"]
    for i in range(4):
        argv += ["--validator", validator(keys, i)]
    argv += [
        "--producer",
        f"id=det-1,pubkey=@{keys('det')[0]},topics=ai.anomalies.v1+ai.evidence.v1,roles=detector",
        "--producer",
        f"id=pol-1,pubkey={keys('pol')[1]},topics=ai.policy.v1,roles=policy_admin",
        "--param",
        "quarantine_threshold=-5000",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    g = load_genesis(out)
    assert (g.chain_id, g.genesis_time, len(g.validators), g.f, g.quorum) == (
        "local",
        1767225600000,
        4,
        1,
        3,
    )
    assert g.validators[0].consensus_pubkey.hex() == keys("c0")[1]
    assert g.validators[2].node_pubkey.hex() == keys("n2")[1]
    det = g.producer("det-1")
    assert det is not None and det.pubkey.hex() == keys("det")[1]
    assert det.topics == {"ai.anomalies.v1", "ai.evidence.v1"}
    assert dict(g.params) == {"quarantine_threshold": -5000}
    capsys.readouterr()
    assert main(["genesis", "validate", str(out)]) == 0
    assert "ok" in capsys.readouterr().out


def test_build_to_stdout(keys: Keys, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            ["genesis", "--chain-id", "c", "--genesis-time", "5", "--validator", validator(keys, 0)]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["genesis_time"] == 5


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--validator", "id=v1,consensus=00,node=00,address=x"], "--validator #2"),
        (["--validator", "bogus=1"], "unknown key 'bogus'"),
        (["--validator", "id=v1"], "validators[1].address: missing"),
        (
            ["--producer", "id=p,pubkey=" + "ab" * 32 + ",topics=ai.nope,roles=detector"],
            "producers[0].topics[0]",
        ),
        (
            ["--producer", "id=p,pubkey=@/nonexistent/key,topics=ai.policy.v1,roles=detector"],
            "cannot read key file",
        ),
        (["--param", "x=1.5"], "--param #1"),
        (["--param", "x=1", "--param", "x=2"], "given twice"),
    ],
)
def test_build_errors_name_the_entry(
    keys: Keys, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    argv = ["genesis", "--chain-id", "c", "--validator", validator(keys, 0), *extra]
    assert main(argv) == 1
    assert message in capsys.readouterr().err


def test_bad_address_names_the_validator(keys: Keys, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "genesis",
        "--chain-id",
        "c",
        "--validator",
        validator(keys, 0),
        "--validator",
        validator(keys, 1, address="127.0.0.1:7101"),
    ]
    assert main(argv) == 1
    assert "validators[1].address" in capsys.readouterr().err


def test_duplicate_validator_id(keys: Keys, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "genesis",
        "--chain-id",
        "c",
        "--validator",
        validator(keys, 0),
        "--validator",
        validator(keys, 1, id="v0"),
    ]
    assert main(argv) == 1
    assert "duplicate id 'v0'" in capsys.readouterr().err


def test_out_is_not_overwritten_without_force(tmp_path: Path, keys: Keys) -> None:
    out = tmp_path / "g.json"
    out.write_text("keep")
    base = ["genesis", "--chain-id", "c", "--validator", validator(keys, 0), "--out", str(out)]
    assert main(base) == 1
    assert out.read_text() == "keep"
    assert main([*base, "--force"]) == 0
    assert load_genesis(out).chain_id == "c"


def test_load_genesis_errors_name_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{")
    with pytest.raises(GenesisError, match=r"bad\.json: not JSON"):
        load_genesis(bad_json)
    invalid = tmp_path / "invalid.json"
    invalid.write_text(
        json.dumps({"chain_id": "c", "genesis_time": 1, "validators": [], "producers": []})
    )
    with pytest.raises(GenesisError, match=r"invalid\.json: genesis\.validators: at least one"):
        load_genesis(invalid)
    with pytest.raises(GenesisError, match=r"missing\.json: cannot read"):
        load_genesis(tmp_path / "missing.json")
    assert main(["genesis", "validate", str(invalid)]) == 1
    assert "invalid.json" in capsys.readouterr().err
