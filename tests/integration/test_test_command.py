"""scripts/test itself: "no tests collected" and a failing test both fail, with a summary line.

Runs scripts/test on the current interpreter's environment (CYBERMESH_NO_INSTALL=1), without the
static checks, with dummy service addresses (these runs use no service).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_test_command(*args: str, summary: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CYBERMESH_VENV": sys.prefix,
        "CYBERMESH_NO_INSTALL": "1",
        "CYBERMESH_SKIP_CHECKS": "1",
        "CYBERMESH_KAFKA_BOOTSTRAP": "127.0.0.1:1",
        "CYBERMESH_PG_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
        "CYBERMESH_KAFKA_SECURE_DIR": "/nonexistent/kafka-secure",
        "CYBERMESH_TEST_SUMMARY": str(summary),
        "CYBERMESH_TEST_RESULTS": str(summary.parent / "results"),
    }
    return subprocess.run(
        [str(ROOT / "scripts" / "test"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=ROOT,
    )


def test_no_tests_collected_is_a_failure(tmp_path: Path) -> None:
    summary = tmp_path / "summary.txt"
    done = run_test_command("tests/unit", "-k", "no_such_test_anywhere_xyz", summary=summary)
    assert done.returncode == 1, done.stdout + done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("tests: FAILED: pytest collected no tests (exit 5)")
    assert summary.read_text().strip() == last


def test_a_failing_test_fails_the_command_and_is_counted(tmp_path: Path) -> None:
    case = tmp_path / "test_case.py"
    case.write_text("def test_ok():\n    pass\n\ndef test_broken():\n    assert 1 == 2\n")
    done = run_test_command(str(case), "-p", "no:cacheprovider", summary=tmp_path / "s.txt")
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1] == "tests: 1 passed, 1 failed, 0 skipped"
