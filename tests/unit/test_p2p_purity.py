"""The pure parts of cybermesh.p2p (codecs, Noise state machine, limits) do no I/O, read no
clock and draw no randomness, so they stay unit-testable without a network."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

P2P = Path(__file__).resolve().parents[2] / "cybermesh" / "p2p"
PURE = [
    "varint",
    "peer_id",
    "multiaddr",
    "multistream",
    "noise",
    "noise_payload",
    "yamux_frame",
    "framing",
    "limits",
]
ALLOWED_TOP = {
    "__future__",
    "collections",
    "dataclasses",
    "hashlib",
    "hmac",
    "ipaddress",
    "nacl",
    "struct",
    "typing",
}


def imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
    return found


@pytest.mark.parametrize("module", PURE)
def test_p2p_pure_module_imports_only_pure_things(module: str) -> None:
    bad = []
    for name in imports(P2P / f"{module}.py"):
        top = name.split(".")[0]
        if top == "cybermesh":
            if name.removeprefix("cybermesh.p2p.") not in PURE:
                bad.append(name)
        elif top not in ALLOWED_TOP:
            bad.append(name)
    assert bad == []
