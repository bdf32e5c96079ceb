"""Pure cores import no I/O, clock, randomness or framework library (STYLE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "cybermesh"
PURE = ["wire", "admission", "mempool", "block", "consensus", "state"]
FORBIDDEN = {
    "asyncio",
    "faust",
    "mode",
    "aiokafka",
    "sqlalchemy",
    "aiohttp",
    "libp2p",
    "trio",
    "logging",
    "time",
    "random",
    "uuid",
    "os",
    "socket",
    "threading",
    "subprocess",
    "rocksdict",
    "psycopg",
    "secrets",
    "datetime",
    "pathlib",
    "io",
    "shutil",
    "prometheus_client",
}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__":
            found.append((node.lineno, "__import__"))
    return found


def _violations(package: str) -> list[str]:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for lineno, module in _imports(path):
            top = module.split(".")[0]
            if top in FORBIDDEN or module == "__import__":
                bad.append(f"{path.relative_to(ROOT.parent)}:{lineno} imports {module}")
            if module.startswith("cybermesh.") and module.split(".")[1] in {
                "agents",
                "tables",
                "stores",
                "p2p",
                "storage",
                "api",
                "cli",
                "app",
                "config",
            }:
                bad.append(f"{path.relative_to(ROOT.parent)}:{lineno} imports adapter {module}")
    return bad


@pytest.mark.parametrize("package", PURE)
def test_core_is_pure(package: str) -> None:
    assert (ROOT / package).is_dir(), f"core package cybermesh/{package} is missing"
    assert _violations(package) == []


def test_checker_catches_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom time import monotonic\nfrom cybermesh.wire import strict\n")
    assert [m for _, m in _imports(sample)] == ["os", "time", "cybermesh.wire"]
