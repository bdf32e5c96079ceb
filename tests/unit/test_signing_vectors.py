"""The checked-in signing vectors (tests/vectors/signing.json) and RFC 8032 §7.1.

Three independent angles: our path (`open_record`, `signing_bytes`, `sign`) reproduces and
accepts every valid vector and rejects every invalid one with its stated reason; `cryptography`'s
Ed25519 (OpenSSL, not libsodium) verifies every valid signature over the vector's signing
bytes; and the file equals what the generator produces, so it cannot drift from the code.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cybermesh import vectors
from cybermesh.wire.fields import from_fields, to_fields
from cybermesh.wire.record import RecordError, open_record
from cybermesh.wire.signing import (
    key_from_seed,
    sign,
    signing_bytes,
    tx_hash,
    verify,
    verify_signature,
)
from cybermesh.wire.strict import decode_strict, encode
from cybermesh.wire.topics import AI_TOPICS, MESSAGE_TYPES

PATH = Path(__file__).resolve().parents[1] / "vectors" / "signing.json"
DOC: dict[str, Any] = json.loads(PATH.read_text(encoding="utf-8"))
VALID = DOC["valid"]
INVALID = DOC["invalid"]


def _ids(vs: list[dict[str, Any]]) -> list[str]:
    return [v["name"] for v in vs]


def test_every_ai_topic_has_a_valid_vector() -> None:
    assert sorted({v["topic"] for v in VALID}) == sorted(AI_TOPICS)


def test_negative_vectors_cover_every_rejection() -> None:
    assert {v["expected_error"] for v in INVALID} >= {
        "bad_signature",
        "unknown_fields",
        "non_canonical",
        "bad_payload_hash",
    }


@pytest.mark.parametrize("v", VALID, ids=_ids(VALID))
def test_valid_vector_is_reproduced_by_our_path(v: dict[str, Any]) -> None:
    key = key_from_seed(bytes.fromhex(v["seed_hex"]))
    assert bytes(key.verify_key).hex() == v["pubkey_hex"]
    msg = from_fields(MESSAGE_TYPES[v["topic"]], v["fields"])
    assert signing_bytes(v["topic"], msg).hex() == v["signing_bytes_hex"]
    sign(v["topic"], msg, key)
    assert msg.signature.hex() == v["signature_hex"]  # type: ignore[attr-defined]
    raw = encode(msg)
    assert raw.hex() == v["serialized_hex"]
    assert tx_hash(raw).hex() == v["tx_hash_hex"] == hashlib.sha256(raw).hexdigest()


@pytest.mark.parametrize("v", VALID, ids=_ids(VALID))
def test_valid_vector_is_accepted(v: dict[str, Any]) -> None:
    raw = bytes.fromhex(v["serialized_hex"])
    msg = open_record(v["topic"], raw)
    fields = to_fields(msg)
    assert fields.pop("signature") == v["signature_hex"]
    assert fields == v["fields"]


@pytest.mark.parametrize("v", VALID, ids=_ids(VALID))
def test_valid_vector_verifies_with_cryptography(v: dict[str, Any]) -> None:
    pub = Ed25519PublicKey.from_public_bytes(bytes.fromhex(v["pubkey_hex"]))
    message = bytes.fromhex(v["signing_bytes_hex"])
    pub.verify(bytes.fromhex(v["signature_hex"]), message)  # raises if invalid
    assert message.startswith(b"cybermesh/v1/" + v["topic"].encode() + b"\x00")
    with pytest.raises(InvalidSignature):
        pub.verify(bytes.fromhex(v["signature_hex"]), message + b"\x00")


@pytest.mark.parametrize("v", INVALID, ids=_ids(INVALID))
def test_invalid_vector_is_rejected_with_its_reason(v: dict[str, Any]) -> None:
    with pytest.raises(RecordError) as err:
        open_record(v["topic"], bytes.fromhex(v["serialized_hex"]))
    assert err.value.reason == v["expected_error"]


@pytest.mark.parametrize(
    "v",
    [v for v in INVALID if v["expected_error"] == "bad_signature"],
    ids=_ids([v for v in INVALID if v["expected_error"] == "bad_signature"]),
)
def test_bad_signature_vectors_fail_with_cryptography_too(v: dict[str, Any]) -> None:
    msg = decode_strict(MESSAGE_TYPES[v["topic"]], bytes.fromhex(v["serialized_hex"]))
    assert not verify(v["topic"], msg)
    pub = Ed25519PublicKey.from_public_bytes(bytes(msg.pubkey))  # type: ignore[attr-defined]
    with pytest.raises(InvalidSignature):
        pub.verify(bytes(msg.signature), signing_bytes(v["topic"], msg))  # type: ignore[attr-defined]


def test_checked_in_vectors_equal_the_generator_output() -> None:
    assert PATH.read_text(encoding="utf-8") == vectors.render(), "run scripts/gen-vectors"


def test_generator_check_mode_detects_drift(tmp_path: Path) -> None:
    stale = tmp_path / "signing.json"
    stale.write_text(vectors.render().replace("an-0001", "an-0002"), encoding="utf-8")
    assert vectors.main(["--out", str(stale), "--check"]) == 1
    assert vectors.main(["--out", str(stale)]) == 0
    assert vectors.main(["--out", str(stale), "--check"]) == 0


# RFC 8032 §7.1, TEST 1-3: (secret key, public key, message, signature)
RFC8032 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]


@pytest.mark.parametrize(
    ("seed", "pub", "message", "sig"), RFC8032, ids=["test1", "test2", "test3"]
)
def test_rfc8032_vectors(seed: str, pub: str, message: str, sig: str) -> None:
    key = key_from_seed(bytes.fromhex(seed))
    assert bytes(key.verify_key).hex() == pub
    assert key.sign(bytes.fromhex(message)).signature.hex() == sig
    assert verify_signature(bytes.fromhex(pub), bytes.fromhex(message), bytes.fromhex(sig))
    flipped = bytearray(bytes.fromhex(sig))
    flipped[0] ^= 1
    assert not verify_signature(bytes.fromhex(pub), bytes.fromhex(message), bytes(flipped))


@pytest.mark.parametrize("v", VALID, ids=_ids(VALID))
def test_record_is_m_prime_with_the_signature_inserted_before_pubkey(v: dict[str, Any]) -> None:
    """SIGNING.md §3, checked on raw bytes without a protobuf library: the record equals M'
    with field `signature` (tag, 0x40, 64 bytes) inserted before the final pubkey field."""
    prefix = b"cybermesh/v1/" + v["topic"].encode() + b"\x00"
    signing = bytes.fromhex(v["signing_bytes_hex"])
    assert signing.startswith(prefix)
    m_prime = signing[len(prefix) :]
    pubkey_field = m_prime[-34:]
    sig_number = MESSAGE_TYPES[v["topic"]].DESCRIPTOR.fields_by_name["signature"].number
    assert pubkey_field == bytes([(sig_number + 1) << 3 | 2, 32]) + bytes.fromhex(v["pubkey_hex"])
    sig_field = bytes([sig_number << 3 | 2, 64]) + bytes.fromhex(v["signature_hex"])
    assert m_prime[:-34] + sig_field + pubkey_field == bytes.fromhex(v["serialized_hex"])
