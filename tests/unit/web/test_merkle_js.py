"""The page's proof check (cybermesh/web/static/merkle.js) agrees with the Python verifier
(cybermesh.state.verify_proof) on valid, tampered and malformed proofs from a real tree,
with crypto.subtle and with the page's own JavaScript SHA-256. Needs `node` (skipped without);
the browser test (tests/e2e/test_web_browser.py) checks the same code in Chromium."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from cybermesh.state import MemoryNodeStore, SparseMerkleProof, VersionedTree, verify_proof
from cybermesh.state.smt import ProofFormatError

STATIC = Path(__file__).resolve().parents[3] / "cybermesh" / "web" / "static"
RUNNER = Path(__file__).with_name("verify_cases.mjs")
NODE = shutil.which("node")


def flip(raw: bytes, pos: int) -> bytes:
    return raw[:pos] + bytes([raw[pos] ^ 0x01]) + raw[pos + 1 :]


def make_cases(seed: int) -> list[dict[str, str | None]]:
    """Inclusion and non-inclusion proofs of a 300-key tree, and tampered or malformed twins."""
    rng = random.Random(seed)
    tree = VersionedTree(MemoryNodeStore())
    keys = [f"rep/entity-{i}".encode() for i in range(300)]
    tree.apply(0, [(k, rng.randbytes(rng.randrange(1, 40))) for k in sorted(keys)])
    root = tree.root(0)
    cases: list[dict[str, str | None]] = []

    def add(key: bytes, value: bytes | None, proof: bytes, root_: bytes = root) -> None:
        cases.append({"root": root_.hex(), "key": key.hex(), "value": None if value is None else value.hex(),
                      "proof": proof.hex()})  # fmt: skip

    for key in rng.sample(keys, 12):
        value = tree.get(key, 0)
        assert value is not None
        proof = tree.prove(key, 0).encode()
        add(key, value, proof)  # valid inclusion
        add(key, value + b"x", proof)  # wrong value
        add(key, None, proof)  # absence claimed for a present key
        add(key, value, proof, flip(root, 5))  # another root
        add(key, value, flip(proof, len(proof) - 40))  # tampered leaf / value hash
        if len(proof) > 2 + 32 + 66:
            add(key, value, flip(proof, 2 + (proof[0] * 256 + proof[1] + 7) // 8))  # tampered sibling
        add(key, value, proof[:-1])  # truncated
        add(key, value, proof + b"\x00")  # trailing byte
    for i in range(12):
        absent = f"rep/absent-{seed}-{i}".encode()
        proof = tree.prove(absent, 0).encode()
        add(absent, None, proof)  # valid non-inclusion (empty end or another key's leaf)
        add(absent, b"v", proof)  # presence claimed for an absent key
        add(absent, None, flip(proof, len(proof) - 1))  # tampered end marker / leaf
    add(b"rep/x", None, bytes.fromhex("0000"))  # shorter than 3 bytes
    add(b"rep/x", None, bytes.fromhex("010100"))  # 257 siblings
    return cases


def python_verdict(case: dict[str, str | None]) -> str:
    try:
        proof = SparseMerkleProof.decode(bytes.fromhex(case["proof"] or ""))
    except ProofFormatError:
        return "format_error"
    value = None if case["value"] is None else bytes.fromhex(case["value"])
    ok = verify_proof(bytes.fromhex(case["root"] or ""), bytes.fromhex(case["key"] or ""), value, proof)
    return "valid" if ok else "invalid"


def run_js(cases: list[dict[str, str | None]], messages: list[str], *node_flags: str,
           answers: list[dict] | None = None) -> dict:  # type: ignore[type-arg]
    assert NODE is not None
    stdin = json.dumps({"cases": cases, "messages": messages, "answers": answers or []})
    done = subprocess.run([NODE, *node_flags, str(RUNNER), str(STATIC)], input=stdin,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


@pytest.mark.skipif(NODE is None, reason="node is not installed (the browser test covers merkle.js)")
@pytest.mark.parametrize("engine", ["webcrypto", "javascript"])
def test_js_verifier_matches_python(engine: str) -> None:
    cases = make_cases(seed=8)
    expected = [python_verdict(c) for c in cases]
    assert {"valid", "invalid", "format_error"} <= set(expected)
    assert expected.count("valid") == 24
    rng = random.Random(1)
    messages = [rng.randbytes(n).hex() for n in (0, 1, 55, 56, 63, 64, 65, 119, 120, 1000)]
    flags = ("--no-experimental-global-webcrypto",) if engine == "javascript" else ()
    out = run_js(cases, messages, *flags)
    assert out["engine"] == engine
    mismatches = [(i, c, e, j) for i, (c, e, j) in enumerate(zip(cases, expected, out["verdicts"], strict=True)) if e != j]
    assert mismatches == []
    assert out["digests"] == [hashlib.sha256(bytes.fromhex(m)).hexdigest() for m in messages]


def tampered(answer: dict, field: str) -> dict:  # type: ignore[type-arg]
    """The answer with one hex digit changed in `field` (root, key, value or the first sibling)."""
    out = json.loads(json.dumps(answer))
    flip = lambda h: ("1" if h[0] == "0" else "0") + h[1:]  # noqa: E731
    if field == "sibling":
        out["proof"]["siblings"][0] = flip(out["proof"]["siblings"][0])
        out["proof"].pop("encoded", None)
    else:
        out[field] = flip(out[field])
    return out


@pytest.mark.skipif(NODE is None, reason="node is not installed (the browser test covers merkle.js)")
def test_js_accepts_the_api_proof_vectors_and_refuses_their_tampered_twins() -> None:
    vectors = json.loads((STATIC.parents[2] / "tests" / "vectors" / "api" / "proofs.json").read_text())["cases"]
    answers, expected = [], []
    for case in vectors:
        answer = {k: case[k] for k in ("root", "key", "value", "present", "proof")} | {"height": 1}
        answers.append(answer)
        expected.append(True)
        for field in ("root", "key", "sibling", *(["value"] if case["value"] else [])):
            if field == "sibling" and not answer["proof"]["siblings"]:
                continue
            answers.append(tampered(answer, field))
            expected.append(False)
    assert len(vectors) >= 2 and expected.count(True) == len(vectors)
    assert run_js([], [], answers=answers)["answers"] == expected
