"""`cybermesh state` commands on a real (rocksdict) data dir."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cybermesh.cli import main
from cybermesh.state import sample as s
from cybermesh.state.machine import StateMachine
from cybermesh.stores.state import StateStore


def test_info_prove_export_restore(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = StateStore(tmp_path / "a")
    m = StateMachine(store.tree, s.sample_genesis())
    m.start()
    block, _ = m.propose(s.workload(1, 4, s.GENESIS_TIME + 1_000), "v0", 1, s.GENESIS_TIME + 1_000)
    root = m.commit(block, m.execute(block))
    store.close()

    def run(*argv: str) -> dict[str, object]:
        assert main(list(argv)) == 0
        out: dict[str, object] = json.loads(capsys.readouterr().out)
        return out

    assert run("state", "info", "--data-dir", str(tmp_path / "a"))["root"] == root.hex()
    proof = run("state", "prove", "--data-dir", str(tmp_path / "a"), "producer/det-0")
    assert proof["verified"] is True and proof["value"] is not None
    absent = run("state", "prove", "--data-dir", str(tmp_path / "a"), "rep/nobody", "--version", "0")
    assert absent["verified"] is True and absent["value"] is None
    snap = tmp_path / "s.snap"
    run("state", "export", "--data-dir", str(tmp_path / "a"), "--version", "1", "--out", str(snap))
    restored = run("state", "restore", "--data-dir", str(tmp_path / "b"), "--snapshot", str(snap), "--expected-root", root.hex())
    assert restored == {"version": 1, "root": root.hex()}
