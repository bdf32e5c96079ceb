"""JSON shapes of the read API (cybermesh/api/format.py) and the proof JSON round trip."""

from __future__ import annotations

import hashlib
import json

from cybermesh.api import format as fmt
from cybermesh.proto.v1 import ai_pb2, block_pb2
from cybermesh.state import MemoryNodeStore, VersionedTree, verify_proof
from cybermesh.state.records import Quarantine, Reputation, quarantine_key, reputation_key
from cybermesh.state.smt import SparseMerkleProof

IDS = ["v0", "v1", "v2", "v3"]


def make_qc(round_: int, block_hash: bytes, signers: list[str]) -> block_pb2.QuorumCert:
    vd = block_pb2.VoteData(schema_version=1, chain_id="c", round=round_, block_hash=block_hash, height=round_,
                            parent_hash=b"\x01" * 32, parent_round=round_ - 1)  # fmt: skip
    sigs = [block_pb2.ValidatorSignature(validator_id=v, signature=bytes([i]) * 64) for i, v in enumerate(signers)]
    return block_pb2.QuorumCert(schema_version=1, vote_data=vd, signatures=sigs)


def test_qc_bitmap_follows_the_validator_order() -> None:
    qc = fmt.qc_json(make_qc(5, b"\xaa" * 32, ["v0", "v2", "v3"]), IDS)
    assert qc is not None
    assert qc["bitmap"] == "1011" and qc["signers"] == ["v0", "v2", "v3"]
    assert qc["block_hash"] == "aa" * 32 and qc["round"] == 5 and qc["parent_round"] == 4
    assert qc["signatures"][1] == {"validator_id": "v2", "signature": "01" * 64}
    assert fmt.qc_json(block_pb2.QuorumCert(), IDS) is None


def test_block_lists_tx_hashes_and_both_certificates() -> None:
    txs = [block_pb2.Tx(schema_version=1, kind=block_pb2.TX_KIND_ANOMALY, raw=b"raw%d" % i) for i in range(3)]
    header = block_pb2.BlockHeader(schema_version=1, chain_id="c", height=9, round=11, parent_hash=b"\x02" * 32,
                                   proposer="v1", timestamp=123, tx_count=3, state_root_height=7)  # fmt: skip
    committed = block_pb2.CommittedBlock(schema_version=1, block=block_pb2.Block(schema_version=1, header=header, txs=txs),
                                         qc=make_qc(11, b"\xbb" * 32, IDS[:3]))  # fmt: skip
    out = fmt.block_json(committed, b"\xbb" * 32, IDS, None)
    assert out["txs"] == [hashlib.sha256(b"raw%d" % i).hexdigest() for i in range(3)]
    assert (out["height"], out["round"], out["tx_count"], out["state_root"]) == (9, 11, 3, None)
    assert out["qc"]["bitmap"] == "1110" and out["commit_qc"] is None
    json.dumps(out)  # plain JSON


def test_tx_decodes_its_message_with_bytes_as_hex() -> None:
    msg = ai_pb2.Anomaly(schema_version=1, id="a-1", source="10.0.0.1", severity=3, confidence=500,
                         ts=99, payload=b"\x00\x01", producer_id="p", nonce=2**63 + 5)  # fmt: skip
    raw = msg.SerializeToString()
    tx = fmt.tx_json(block_pb2.Tx(schema_version=1, kind=block_pb2.TX_KIND_ANOMALY, raw=raw), 4, 1, "applied")
    assert tx["hash"] == hashlib.sha256(raw).hexdigest() and tx["kind"] == "anomaly"
    assert (tx["id"], tx["nonce"], tx["nonce_str"], tx["ts"]) == ("a-1", 2**63 + 5, str(2**63 + 5), 99)
    assert tx["message"]["payload"] == "0001" and tx["message"]["severity"] == 3
    broken = fmt.tx_json(block_pb2.Tx(schema_version=1, kind=block_pb2.TX_KIND_ANOMALY, raw=b"\xff\xff"), 1, 0, None)
    assert broken["message"] is None and broken["kind"] == "anomaly"


def test_proof_json_round_trips_through_verify_proof() -> None:
    tree = VersionedTree(MemoryNodeStore())
    keys = [b"k%d" % i for i in range(50)]
    root = tree.apply(0, [(k, b"value-" + k) for k in keys])
    for key, value in [(keys[7], b"value-" + keys[7]), (b"absent-1", None), (b"absent-2", None)]:
        body = json.loads(json.dumps(fmt.proof_json(tree.prove(key, 0))))
        proof = fmt.proof_from_json(body)
        assert verify_proof(root, key, value, proof)
        assert SparseMerkleProof.decode(bytes.fromhex(body["encoded"])) == proof
        assert all(len(s) == 64 for s in body["siblings"])
        assert not verify_proof(root, key, b"other", proof)
        if value is not None:
            assert not verify_proof(root, key, None, proof)


def test_records_decode_best_effort() -> None:
    rep = Reputation(-700, 3, 12).encode()
    assert fmt.record_json(rep) == {"type": "Reputation", "score": -700, "anomalies": 3, "updated_height": 12}
    assert fmt.record_json(b"\x01\x63junk") is None and fmt.record_json(b"\x09") is None and fmt.record_json(None) is None
    assert fmt.record_json(rep[:-1]) is None
    ent = fmt.entity_json("e", 20, rep, Quarantine(15, "threshold").encode())
    assert ent["quarantined"] and ent["quarantine"] == {"since_height": 15, "reason": "threshold"}
    assert fmt.entity_json("e", 20, None, None)["reputation"] == 0
    assert reputation_key("e") != quarantine_key("e")


def test_error_shape() -> None:
    assert fmt.error_json("not_found", "no") == {"error": {"code": "not_found", "message": "no"}}
    assert fmt.error_json("bad_parameter", "limit: x", "limit")["error"]["parameter"] == "limit"


def test_proof_vectors_for_clients_verify() -> None:
    """tests/vectors/api/proofs.json: what a browser verifier is checked against (docs/API.md)."""
    from pathlib import Path

    vectors = json.loads((Path(__file__).resolve().parents[2] / "vectors" / "api" / "proofs.json").read_text())
    notes = set()
    for case in vectors["cases"]:
        root, key = bytes.fromhex(case["root"]), bytes.fromhex(case["key"])
        value = None if case["value"] is None else bytes.fromhex(case["value"])
        proof = fmt.proof_from_json(case["proof"])
        assert verify_proof(root, key, value, proof), case["note"]
        assert SparseMerkleProof.decode(bytes.fromhex(case["proof"]["encoded"])) == proof
        assert not verify_proof(root, key + b"\x00", value, proof)
        assert not verify_proof(bytes(31) + b"\x01", key, value, proof)
        notes.add((case["present"], case["proof"]["leaf"] is None))
    assert notes == {(True, False), (False, True), (False, False)}  # inclusion, empty end, other leaf
