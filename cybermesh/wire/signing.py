"""Signing contract of the ai.* messages (DESIGN §3). Fixed.

    signing_bytes = b"cybermesh/v1/" + topic + b"\\x00" + M'

where M' is the message with `signature` cleared, serialized deterministically. The signature
is Ed25519 (RFC 8032) over signing_bytes by the key in `pubkey`. The transaction hash is
SHA-256 of the full serialized message.
"""

from __future__ import annotations

import hashlib
from typing import Final

import nacl.signing
from google.protobuf.message import Message

from cybermesh.wire import ed25519

DOMAIN: Final = b"cybermesh/v1/"
SEED_LEN: Final = 32
PUBKEY_LEN: Final = ed25519.PUBKEY_LEN
SIGNATURE_LEN: Final = ed25519.SIGNATURE_LEN


def signing_bytes(topic: str, msg: Message) -> bytes:
    """The exact bytes a producer signs for `msg` on `topic`."""
    unsigned = type(msg)()
    unsigned.CopyFrom(msg)
    unsigned.ClearField("signature")
    return DOMAIN + topic.encode("ascii") + b"\x00" + unsigned.SerializeToString(deterministic=True)


def sign(topic: str, msg: Message, key: nacl.signing.SigningKey) -> None:
    """Set `msg.pubkey` to `key`'s public key and `msg.signature` to the Ed25519 signature."""
    msg.pubkey = bytes(key.verify_key)  # type: ignore[attr-defined]
    msg.signature = key.sign(signing_bytes(topic, msg)).signature  # type: ignore[attr-defined]


def verify_signature(pubkey: bytes, message: bytes, signature: bytes) -> bool:
    """Ed25519 verification of `signature` over `message`; False on any malformed input.

    libsodium's acceptance rule, by the fastest implementation installed (cybermesh.wire.ed25519).
    """
    return ed25519.verify(bytes(pubkey), bytes(message), bytes(signature))


def verify(topic: str, msg: Message) -> bool:
    """True if `msg.signature` is a valid signature by `msg.pubkey` over its signing bytes."""
    return verify_signature(
        bytes(msg.pubkey),  # type: ignore[attr-defined]
        signing_bytes(topic, msg),
        bytes(msg.signature),  # type: ignore[attr-defined]
    )


def tx_hash(raw: bytes) -> bytes:
    """SHA-256 of the full serialized message, as received."""
    return hashlib.sha256(raw).digest()


def payload_hash(payload: bytes) -> bytes:
    """SHA-256(payload): the value an Anomaly's `payload_hash` must hold."""
    return hashlib.sha256(payload).digest()


def key_from_seed(seed: bytes) -> nacl.signing.SigningKey:
    """The Ed25519 signing key of a 32-byte seed (RFC 8032 secret key)."""
    if len(seed) != SEED_LEN:
        raise ValueError(f"an Ed25519 seed is {SEED_LEN} bytes, got {len(seed)}")
    return nacl.signing.SigningKey(seed)
