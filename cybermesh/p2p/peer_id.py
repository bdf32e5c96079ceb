"""libp2p peer ids for Ed25519 keys (libp2p spec `peer-ids/peer-ids.md`).

Rules:
1. The public key is serialized as the libp2p `PublicKey` protobuf
   `{KeyType Type = 1; bytes Data = 2}` with Type = Ed25519 (1), deterministically:
   `08 01 12 20 <32 key bytes>` (36 bytes).
2. Keys whose serialization is at most 42 bytes use the identity multihash:
   `00 <len> <serialized key>`; Ed25519 ids are therefore 38 bytes and need no hashing, so
   the public key can be recovered from the id.
3. The text form is base58btc of the multihash bytes (no multibase prefix), e.g. `12D3KooW...`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

KEY_TYPE_ED25519: Final = 1
ED25519_KEY_LEN: Final = 32
_MH_IDENTITY: Final = 0x00
_MH_SHA256: Final = 0x12
_ALPHABET: Final = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX: Final = {c: i for i, c in enumerate(_ALPHABET)}


class PeerIdError(ValueError):
    """A peer id or public key that is malformed or of an unsupported type."""


def b58encode(data: bytes) -> str:
    zeros = len(data) - len(data.lstrip(b"\x00"))
    num = int.from_bytes(data, "big")
    out = bytearray()
    while num:
        num, rem = divmod(num, 58)
        out.append(_ALPHABET[rem])
    return (b"1" * zeros + bytes(reversed(out))).decode("ascii")


def b58decode(text: str) -> bytes:
    raw = text.encode("ascii", "replace")
    num = 0
    for ch in raw:
        if ch not in _INDEX:
            raise PeerIdError(f"invalid base58 character {chr(ch)!r} in {text!r}")
        num = num * 58 + _INDEX[ch]
    zeros = len(raw) - len(raw.lstrip(b"1"))
    body = num.to_bytes((num.bit_length() + 7) // 8, "big") if num else b""
    return b"\x00" * zeros + body


def encode_public_key(ed25519_pubkey: bytes) -> bytes:
    """The libp2p `PublicKey` protobuf of an Ed25519 key (rule 1)."""
    if len(ed25519_pubkey) != ED25519_KEY_LEN:
        raise PeerIdError(f"Ed25519 public key must be 32 bytes, got {len(ed25519_pubkey)}")
    return bytes((0x08, KEY_TYPE_ED25519, 0x12, ED25519_KEY_LEN)) + ed25519_pubkey


def decode_public_key(raw: bytes) -> bytes:
    """The Ed25519 key inside a `PublicKey` protobuf; other key types raise PeerIdError.

    Accepts the fields in either order (proto3 parsers may), but both exactly once.
    """
    key_type: int | None = None
    data: bytes | None = None
    pos = 0
    while pos < len(raw):
        tag = raw[pos]
        if tag == 0x08 and pos + 1 < len(raw) and raw[pos + 1] < 0x80 and key_type is None:
            key_type = raw[pos + 1]
            pos += 2
        elif tag == 0x12 and pos + 1 < len(raw) and raw[pos + 1] < 0x80 and data is None:
            n = raw[pos + 1]
            data = raw[pos + 2 : pos + 2 + n]
            if len(data) != n:
                raise PeerIdError("truncated PublicKey.Data")
            pos += 2 + n
        else:
            raise PeerIdError(f"unexpected PublicKey protobuf byte 0x{tag:02x} at {pos}")
    if key_type != KEY_TYPE_ED25519:
        raise PeerIdError(f"unsupported key type {key_type} (only Ed25519 = 1)")
    if data is None or len(data) != ED25519_KEY_LEN:
        raise PeerIdError("Ed25519 PublicKey.Data must be 32 bytes")
    return data


@dataclass(frozen=True, order=True)
class PeerId:
    """A libp2p peer id; ordered by its multihash bytes (used for deterministic tie-breaks)."""

    raw: bytes
    """The multihash bytes."""

    @classmethod
    def from_ed25519(cls, pubkey: bytes) -> PeerId:
        key = encode_public_key(pubkey)
        return cls(bytes((_MH_IDENTITY, len(key))) + key)

    @classmethod
    def from_string(cls, text: str) -> PeerId:
        raw = b58decode(text)
        if len(raw) < 2 or raw[0] not in (_MH_IDENTITY, _MH_SHA256) or raw[1] != len(raw) - 2:
            raise PeerIdError(f"{text!r} is not a base58btc multihash peer id")
        return cls(raw)

    def ed25519_key(self) -> bytes:
        """The Ed25519 key of an identity-multihash id (rule 2); PeerIdError otherwise."""
        if self.raw[0] != _MH_IDENTITY:
            raise PeerIdError(f"{self} is a hashed id: the public key is not inside it")
        return decode_public_key(self.raw[2:])

    def __str__(self) -> str:
        return b58encode(self.raw)

    def __repr__(self) -> str:
        return f"PeerId({self})"
