"""Certificate verification against the genesis validator set."""

from __future__ import annotations

import pytest

from cybermesh.consensus.crypto import CachingVerifier, genesis_qc
from cybermesh.consensus.errors import InvalidCertificate
from cybermesh.sim.keys import signing_key

from .builders import GQC, VS, chain, make_qc, make_tc

VERIFY = CachingVerifier()


def test_valid_qc_and_tc_pass() -> None:
    (_b1, qc1), = chain([1])
    VS.check_qc(qc1, VERIFY)
    VS.check_qc(GQC, VERIFY)
    VS.check_tc(make_tc(2, qc1), VERIFY)


@pytest.mark.parametrize("defect", ["chain", "few", "unsorted", "duplicate", "stranger", "badsig",
                                    "genesis_forged"])
def test_invalid_qc_is_refused(defect: str) -> None:
    (b1, _qc1), = chain([1])
    qc = make_qc(b1, GQC, signers=("v0", "v1", "v2", "v3"))
    if defect == "chain":
        qc.vote_data.chain_id = "other"
    elif defect == "few":
        del qc.signatures[2:]
    elif defect == "unsorted":
        qc.signatures[0].validator_id, qc.signatures[1].validator_id = "v1", "v0"
    elif defect == "duplicate":
        qc.signatures[1].CopyFrom(qc.signatures[0])
    elif defect == "stranger":
        qc.signatures[3].validator_id = "v9"
    elif defect == "badsig":
        qc.signatures[3].signature = signing_key("v3").sign(b"something else").signature
    elif defect == "genesis_forged":
        qc = genesis_qc(VS.chain_id)
        qc.vote_data.block_hash = b"\x01" * 32
    with pytest.raises(InvalidCertificate):
        VS.check_qc(qc, VERIFY)


def test_tc_high_qc_must_be_the_signers_maximum() -> None:
    (_b1, qc1), (_b2, qc2) = chain([1, 2])
    tc = make_tc(3, qc2)
    tc.high_qc.CopyFrom(qc1)  # hides QC(b2), which the signers reported
    with pytest.raises(InvalidCertificate, match="max"):
        VS.check_tc(tc, VERIFY)
    tc = make_tc(3, qc2)
    tc.signatures[0].high_qc_round = 1  # signature no longer matches
    with pytest.raises(InvalidCertificate):
        VS.check_tc(tc, VERIFY)
    with pytest.raises(InvalidCertificate):
        VS.check_tc(make_tc(2, qc2), VERIFY)  # high QC not below the TC round


def test_leader_rotates_round_robin() -> None:
    assert [VS.leader(r) for r in range(5)] == ["v0", "v1", "v2", "v3", "v0"]


def test_caching_verifier_checks_each_valid_triple_once_and_never_caches_failures() -> None:
    verify = CachingVerifier(size=2)
    key = signing_key("v0")
    sig = key.sign(b"m").signature
    pub = bytes(key.verify_key)
    assert verify(pub, b"m", sig) and verify(pub, b"m", sig)
    assert verify.checks == 1
    assert not verify(pub, b"x", sig) and not verify(pub, b"x", sig)
    assert verify.checks == 3


def test_block_hash_test_vector() -> None:
    """A fixed header has a fixed hash (crypto rule 1), so other implementations can check."""
    from cybermesh.block.hashing import header_bytes
    from cybermesh.consensus.crypto import block_hash
    from cybermesh.proto.v1 import block_pb2

    header = block_pb2.BlockHeader(
        schema_version=1, chain_id="cybermesh-test", height=1, round=1, parent_hash=bytes(32),
        proposer="v1", tx_root=bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        state_root_hint=bytes(32), timestamp=1767225600001)
    preimage = header_bytes(header)
    assert preimage.hex() == (
        "63796265726d6573682f76312f626c6f636b2d68656164657200"  # "cybermesh/v1/block-header\\0"
        "00000001"  # schema_version u32
        "0000000e" "63796265726d6573682d74657374"  # chain_id, u32 length-prefixed
        "0000000000000001" "0000000000000001"  # height, round u64
        + "00" * 32  # parent_hash
        + "00000002" "7631"  # proposer
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"  # tx_root
        + "00" * 32  # state_root_hint
        + "0000019b76daa801" "00000000"  # timestamp i64, tx_count u32
        "0000000000000000"  # state_root_height u64
    )
    assert block_hash(header).hex() == (
        "c071657080dd5e029d9d90c10428b91d852b9dbb135813889ef345efc9e93737")
