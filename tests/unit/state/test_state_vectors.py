"""Golden vectors: the checked-in genesis + blocks reproduce the checked-in roots.

If this fails after an intended semantic change, regenerate with
`python scripts/gen_state_vectors.py` and review the diff of tests/vectors/state/chain.json.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cybermesh.genesis import parse_genesis
from cybermesh.proto.v1 import block_pb2
from cybermesh.state import MemoryNodeStore, SparseMerkleProof, VersionedTree, verify_proof
from cybermesh.state.machine import StateMachine
from cybermesh.state.sample import events_digest, golden_chain
from cybermesh.wire import strict

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "state" / "chain.json"


@pytest.fixture(scope="module")
def vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTORS.read_text())
    return data


def test_checked_in_blocks_reproduce_checked_in_roots(vectors: dict[str, Any]) -> None:
    m = StateMachine(VersionedTree(MemoryNodeStore()), parse_genesis(vectors["genesis"]))
    assert m.start().hex() == vectors["genesis_root"]
    for expected in vectors["blocks"]:
        block = strict.decode_strict(block_pb2.Block, bytes.fromhex(expected["block"]))
        ex = m.execute(block)
        assert ex.block_hash.hex() == expected["block_hash"], expected["height"]
        assert [r.status for r in ex.receipts] == expected["receipts"], expected["height"]
        assert events_digest(ex.events).hex() == expected["events_sha256"], expected["height"]
        assert m.commit(block, ex).hex() == expected["state_root"], expected["height"]


def test_checked_in_proofs_verify(vectors: dict[str, Any]) -> None:
    root = bytes.fromhex(vectors["blocks"][-1]["state_root"])
    assert len(vectors["proofs"]) == 5
    for p in vectors["proofs"]:
        value = None if p["value"] is None else bytes.fromhex(p["value"])
        proof = SparseMerkleProof.decode(bytes.fromhex(p["proof"]))
        assert verify_proof(root, bytes.fromhex(p["key"]), value, proof)
        assert not verify_proof(root, bytes.fromhex(p["key"]), b"other", proof)


def test_generator_output_equals_checked_in_file(vectors: dict[str, Any]) -> None:
    assert json.loads(json.dumps(golden_chain())) == vectors
