"""The page's certificate check (cybermesh/web/static/certify.js) agrees with Python: block
hashes from header fields (cybermesh.block.hashing.block_hash), vote signing bytes
(cybermesh.consensus.crypto.vote_bytes), and Ed25519 QC verification (good, forged, unknown
and repeated signers, quorum). Needs `node` (skipped without)."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey

from cybermesh.block.hashing import block_hash
from cybermesh.consensus.crypto import vote_bytes
from cybermesh.proto.v1 import block_pb2

STATIC = Path(__file__).resolve().parents[3] / "cybermesh" / "web" / "static"
RUNNER = Path(__file__).with_name("certify_cases.mjs")
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed (the browser test covers certify.js)")


def header(rng: random.Random) -> block_pb2.BlockHeader:
    return block_pb2.BlockHeader(
        schema_version=1, chain_id=rng.choice(["cybermesh-localnet", "c", "chaîne-é"]), height=rng.randrange(1, 2**40),
        round=rng.choice([0, rng.randrange(1, 2**50)]), parent_hash=rng.randbytes(32), proposer=f"v{rng.randrange(100)}",
        tx_root=rng.randbytes(32), state_root_hint=rng.randbytes(32), timestamp=rng.randrange(0, 2**45),
        tx_count=rng.randrange(0, 5000), state_root_height=rng.randrange(0, 2**40),
    )  # fmt: skip


def as_json(h: block_pb2.BlockHeader) -> dict[str, Any]:
    """The header fields as /api/v1/blocks gives them (docs/API.md Block)."""
    return {"height": h.height, "round": h.round, "chain_id": h.chain_id, "parent_hash": h.parent_hash.hex(),
            "proposer": h.proposer, "tx_root": h.tx_root.hex(), "state_root_hint": h.state_root_hint.hex(),
            "timestamp": h.timestamp, "tx_count": h.tx_count, "state_root_height": h.state_root_height}  # fmt: skip


def vote_data(rng: random.Random, chain_id: str) -> block_pb2.VoteData:
    return block_pb2.VoteData(
        schema_version=1, chain_id=chain_id, round=rng.choice([0, 1, 127, 128, 2**32, 2**53 - 1]),  # JSON numbers: exact to 2^53
        block_hash=rng.randbytes(32), height=rng.choice([0, 5, 300, 2**40]), parent_hash=rng.choice([bytes(32), rng.randbytes(32)]),
        parent_round=rng.choice([0, 1, 2**20]),
    )  # fmt: skip


def qc_json(vd: block_pb2.VoteData, sigs: list[tuple[str, bytes]]) -> dict[str, Any]:
    return {"round": vd.round, "height": vd.height, "block_hash": vd.block_hash.hex(), "parent_hash": vd.parent_hash.hex(),
            "parent_round": vd.parent_round, "signers": [v for v, _ in sigs],
            "signatures": [{"validator_id": v, "signature": s.hex()} for v, s in sigs]}  # fmt: skip


def test_js_block_hash_vote_bytes_and_qc_check_match_python() -> None:
    rng = random.Random(8)
    headers = [header(rng) for _ in range(20)]
    votes = [vote_data(rng, "cybermesh-localnet") for _ in range(20)]
    keys = {f"v{i}": SigningKey(bytes([i + 1]) * 32) for i in range(4)}
    validators = [{"id": v, "consensus_pubkey": k.verify_key.encode().hex()} for v, k in keys.items()]
    vd = vote_data(rng, "cybermesh-localnet")
    msg = vote_bytes(vd)
    sign = {v: k.sign(msg).signature for v, k in keys.items()}
    forged = bytes([sign["v2"][0] ^ 1]) + sign["v2"][1:]
    cases = [
        (qc_json(vd, [(v, sign[v]) for v in ("v0", "v1", "v3")]), 3, vd.block_hash.hex()),  # certified
        (qc_json(vd, [("v0", sign["v0"]), ("v1", sign["v1"]), ("v2", forged)]), 3, None),  # one forged: 2 < 3
        (qc_json(vd, [("v0", sign["v0"]), ("v0", sign["v0"]), ("v1", sign["v1"])]), 3, None),  # repeated signer
        (qc_json(vd, [("v0", sign["v0"]), ("v9", sign["v1"]), ("v1", sign["v1"])]), 3, None),  # unknown signer
        (qc_json(vd, [(v, sign[v]) for v in ("v0", "v1", "v3")]), 3, "00" * 32),  # names another block
        (qc_json(vd, [(v, sign[v]) for v in ("v0", "v1", "v3")]), 3, None),  # certified, no hash given
    ]
    stdin = {"blocks": [as_json(h) for h in headers],
             "votes": [{"chain_id": v.chain_id, "qc": qc_json(v, [])} for v in votes],
             "validators": validators,
             "qcs": [{"qc": q, "chain_id": "cybermesh-localnet", "quorum": n, "hash": hh} for q, n, hh in cases]}  # fmt: skip
    assert NODE is not None
    done = subprocess.run([NODE, str(RUNNER), str(STATIC)], input=json.dumps(stdin), capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["hashes"] == [block_hash(h).hex() for h in headers]
    assert out["votes"] == [vote_bytes(v).hex() for v in votes]
    if not out["ed25519"]:
        pytest.skip("this node's WebCrypto has no Ed25519")
    got = [(r["certified"], sorted(r["good"]), sorted(r["bad"])) for r in out["qcs"]]
    assert got == [
        (True, ["v0", "v1", "v3"], []),
        (False, ["v0", "v1"], ["v2"]),
        (False, ["v0", "v1"], ["v0"]),
        (False, ["v0", "v1"], ["v9"]),
        (False, [], []),
        (True, ["v0", "v1", "v3"], []),
    ]
