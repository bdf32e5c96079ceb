"""The libp2p Noise handshake payload (libp2p spec `noise/README.md`), pure.

    message NoiseHandshakePayload {
      bytes identity_key = 1;        // libp2p PublicKey protobuf (Ed25519 here)
      bytes identity_sig = 2;        // sig over "noise-libp2p-static-key:" || static X25519 key
      NoiseExtensions extensions = 4;
    }

Rules:
1. We send identity_key and identity_sig only (no extensions, no early data).
2. On receipt, unknown fields and the extensions are skipped; identity_key must be an Ed25519
   `PublicKey` and identity_sig a valid Ed25519 signature by it over
   `SIG_PREFIX || remote static key`, else BadHandshakePayload.
3. The remote peer id is derived from identity_key (peer_id rules); the caller compares it with
   the dialed id and with the allowlist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import nacl.exceptions
import nacl.signing

from cybermesh.p2p.peer_id import PeerId, PeerIdError, decode_public_key, encode_public_key
from cybermesh.p2p.varint import VarintError, decode_uvarint, encode_uvarint

SIG_PREFIX: Final = b"noise-libp2p-static-key:"


class BadHandshakePayload(ValueError):
    """The remote's handshake payload is malformed or its signature does not verify."""


@dataclass(frozen=True)
class HandshakePayload:
    identity_key: bytes
    """libp2p PublicKey protobuf bytes."""
    identity_sig: bytes


def encode_payload(payload: HandshakePayload) -> bytes:
    out = bytearray()
    for field, value in ((1, payload.identity_key), (2, payload.identity_sig)):
        out += bytes((field << 3 | 2,)) + encode_uvarint(len(value)) + value
    return bytes(out)


def decode_payload(raw: bytes) -> HandshakePayload:
    fields: dict[int, bytes] = {}
    pos = 0
    try:
        while pos < len(raw):
            tag = decode_uvarint(raw, pos)
            if tag is None:
                raise BadHandshakePayload("truncated field tag")
            key, pos = tag
            field, wire = key >> 3, key & 7
            if wire == 0:
                v = decode_uvarint(raw, pos)
                if v is None:
                    raise BadHandshakePayload(f"truncated varint in field {field}")
                pos = v[1]
            elif wire == 2:
                n = decode_uvarint(raw, pos)
                if n is None or n[1] + n[0] > len(raw):
                    raise BadHandshakePayload(f"truncated bytes in field {field}")
                if field in (1, 2):
                    if field in fields:
                        raise BadHandshakePayload(f"field {field} repeated")
                    fields[field] = raw[n[1] : n[1] + n[0]]
                pos = n[1] + n[0]
            elif wire in (1, 5):
                pos += 8 if wire == 1 else 4
            else:
                raise BadHandshakePayload(f"unsupported wire type {wire} in field {field}")
    except VarintError as exc:
        raise BadHandshakePayload(str(exc)) from exc
    if pos != len(raw):
        raise BadHandshakePayload("truncated payload")
    if 1 not in fields or 2 not in fields:
        raise BadHandshakePayload("identity_key or identity_sig missing")
    return HandshakePayload(fields[1], fields[2])


def make_payload(identity: nacl.signing.SigningKey, noise_static_pub: bytes) -> HandshakePayload:
    sig = identity.sign(SIG_PREFIX + noise_static_pub).signature
    return HandshakePayload(encode_public_key(bytes(identity.verify_key)), bytes(sig))


def verify_payload(payload: HandshakePayload, remote_static_pub: bytes) -> PeerId:
    """Check rule 2 and return the remote peer id (rule 3)."""
    try:
        key = decode_public_key(payload.identity_key)
    except PeerIdError as exc:
        raise BadHandshakePayload(f"identity_key: {exc}") from exc
    try:
        nacl.signing.VerifyKey(key).verify(SIG_PREFIX + remote_static_pub, payload.identity_sig)
    except (nacl.exceptions.BadSignatureError, ValueError, TypeError) as exc:
        raise BadHandshakePayload("identity_sig does not verify over the static key") from exc
    return PeerId.from_ed25519(key)
