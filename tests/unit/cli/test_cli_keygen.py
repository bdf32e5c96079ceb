"""`cybermesh keygen` and the key file format (cybermesh.keys)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from cybermesh.cli import main
from cybermesh.keys import KeyFileError, load_signing_key, parse_pubkey, read_seed


def test_keygen_writes_a_0600_seed_and_prints_its_pubkey(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "k.key"
    assert main(["keygen", "--out", str(path)]) == 0
    pubkey = capsys.readouterr().out.strip()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert len(text) == 65 and text.endswith("\n") and bytes.fromhex(text.strip())
    assert bytes(load_signing_key(path).verify_key).hex() == pubkey


def test_keygen_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "k.key"
    assert main(["keygen", "--out", str(path), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    before = path.read_bytes()
    assert main(["keygen", "--out", str(path)]) == 1
    err = capsys.readouterr().err
    assert "already exists" in err and str(path) in err
    assert path.read_bytes() == before
    assert bytes(load_signing_key(path).verify_key).hex() == first["pubkey"]


def test_keygen_into_a_missing_directory_fails_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keygen", "--out", str(tmp_path / "no" / "k.key")]) == 1
    assert "cannot create" in capsys.readouterr().err


def test_two_keys_differ(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["keygen", "--out", str(tmp_path / "a")])
    main(["keygen", "--out", str(tmp_path / "b")])
    a, b = capsys.readouterr().out.split()
    assert a != b


def test_read_seed_accepts_raw_bytes_and_rejects_garbage(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.write_bytes(bytes(range(32)))
    raw.chmod(0o600)
    assert read_seed(raw) == bytes(range(32))
    bad = tmp_path / "bad"
    bad.write_text("not a key\n")
    with pytest.raises(KeyFileError, match="not a key file"):
        read_seed(bad)
    with pytest.raises(KeyFileError, match="cannot read"):
        read_seed(tmp_path / "missing")


def test_parse_pubkey(tmp_path: Path) -> None:
    assert parse_pubkey("ab" * 32) == bytes([0xAB]) * 32
    with pytest.raises(KeyFileError, match="64 hex"):
        parse_pubkey("ab" * 31)
    path = tmp_path / "k"
    assert main(["keygen", "--out", str(path)]) == 0
    assert parse_pubkey(f"@{path}") == bytes(load_signing_key(path).verify_key)


def test_console_entry_point_runs_keygen(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[3]
    path = tmp_path / "k.key"
    done = subprocess.run(
        [sys.executable, "-m", "cybermesh", "keygen", "--out", str(path)],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == bytes(load_signing_key(path).verify_key).hex()


def test_reading_a_group_readable_key_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "k.key"
    path.write_text("11" * 32 + "\n")
    path.chmod(0o644)
    assert read_seed(path) == bytes([0x11]) * 32
    assert "chmod 600" in capsys.readouterr().err
