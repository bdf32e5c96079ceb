"""The Noise XX handshake `Noise_XX_25519_ChaChaPoly_SHA256` (Noise spec rev. 34), pure.

No I/O and no randomness: the ephemeral private key is an argument (the adapter draws it).
Primitives: X25519 and ChaCha20-Poly1305 (IETF) from libsodium via PyNaCl, SHA-256 and
HMAC from hashlib/hmac.

Rules:
1. XX message pattern: `-> e`; `<- e, ee, s, es`; `-> s, se`. Each message carries a payload
   (encrypted once a key exists); `split()` after message 3 yields one CipherState per
   direction (the first is initiator -> responder).
2. Nonces are 64-bit counters starting at 0; the AEAD nonce is 4 zero bytes || LE64(n).
   A counter never wraps: reaching 2^64 - 1 raises NoiseError (Noise §5.1 reserves it).
3. A DH result of all zeros (low-order public key) is rejected.
4. Any authentication failure raises NoiseError; the handshake object is then unusable.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from typing import Final

import nacl.bindings as sodium
import nacl.exceptions

PROTOCOL_NAME: Final = b"Noise_XX_25519_ChaChaPoly_SHA256"
DHLEN: Final = 32
HASHLEN: Final = 32
TAGLEN: Final = 16
MAX_MESSAGE: Final = 65535
_MAX_NONCE: Final = 2**64 - 1
_NONCE: Final = struct.Struct("<4xQ")


class NoiseError(Exception):
    """A Noise failure: bad authentication tag, bad key, message order or length."""


def x25519_public(private: bytes) -> bytes:
    return bytes(sodium.crypto_scalarmult_base(private))


def _dh(private: bytes, public: bytes) -> bytes:
    try:
        out = bytes(sodium.crypto_scalarmult(private, public))
    except nacl.exceptions.RuntimeError as exc:  # libsodium refuses an all-zero result
        raise NoiseError("X25519 with a low-order public key") from exc
    if out == bytes(DHLEN):
        raise NoiseError("X25519 with a low-order public key")
    return out


def _hkdf2(chaining_key: bytes, ikm: bytes) -> tuple[bytes, bytes]:
    temp = hmac.digest(chaining_key, ikm, "sha256")
    out1 = hmac.digest(temp, b"\x01", "sha256")
    out2 = hmac.digest(temp, out1 + b"\x02", "sha256")
    return out1, out2


class CipherState:
    """One direction of ChaCha20-Poly1305 with a counter nonce (rule 2)."""

    __slots__ = ("key", "n")

    def __init__(self, key: bytes | None = None) -> None:
        self.key = key
        self.n = 0

    def encrypt(self, ad: bytes, plaintext: bytes) -> bytes:
        if self.key is None:
            return plaintext
        if self.n >= _MAX_NONCE:
            raise NoiseError("nonce exhausted")
        out = sodium.crypto_aead_chacha20poly1305_ietf_encrypt(
            plaintext, ad, _NONCE.pack(self.n), self.key
        )
        self.n += 1
        return bytes(out)

    def decrypt(self, ad: bytes, ciphertext: bytes) -> bytes:
        if self.key is None:
            return ciphertext
        if self.n >= _MAX_NONCE:
            raise NoiseError("nonce exhausted")
        try:
            out = sodium.crypto_aead_chacha20poly1305_ietf_decrypt(
                ciphertext, ad, _NONCE.pack(self.n), self.key
            )
        except nacl.exceptions.CryptoError as exc:
            raise NoiseError(f"authentication failed at nonce {self.n}") from exc
        self.n += 1
        return bytes(out)


class SymmetricState:
    __slots__ = ("cipher", "ck", "h")

    def __init__(self, protocol_name: bytes, prologue: bytes) -> None:
        if len(protocol_name) <= HASHLEN:
            self.h = protocol_name.ljust(HASHLEN, b"\x00")
        else:
            self.h = hashlib.sha256(protocol_name).digest()
        self.ck = self.h
        self.cipher = CipherState()
        self.mix_hash(prologue)

    def mix_hash(self, data: bytes) -> None:
        self.h = hashlib.sha256(self.h + data).digest()

    def mix_key(self, ikm: bytes) -> None:
        self.ck, temp_k = _hkdf2(self.ck, ikm)
        self.cipher = CipherState(temp_k)

    def encrypt_and_hash(self, plaintext: bytes) -> bytes:
        out = self.cipher.encrypt(self.h, plaintext)
        self.mix_hash(out)
        return out

    def decrypt_and_hash(self, ciphertext: bytes) -> bytes:
        out = self.cipher.decrypt(self.h, ciphertext)
        self.mix_hash(ciphertext)
        return out

    def split(self) -> tuple[CipherState, CipherState]:
        k1, k2 = _hkdf2(self.ck, b"")
        return CipherState(k1), CipherState(k2)


class HandshakeXX:
    """One side of an XX handshake (rule 1).

    Initiator: `write_message` (1), `read_message` (2), `write_message` (3).
    Responder: `read_message` (1), `write_message` (2), `read_message` (3).
    After message 3, `remote_static` is the peer's X25519 key and `split()` the transport keys.
    """

    def __init__(
        self,
        *,
        initiator: bool,
        static_private: bytes,
        ephemeral_private: bytes,
        prologue: bytes = b"",
    ) -> None:
        self.initiator = initiator
        self.s = static_private
        self.s_pub = x25519_public(static_private)
        self.e = ephemeral_private
        self.e_pub = x25519_public(ephemeral_private)
        self.re: bytes | None = None
        self.remote_static: bytes | None = None
        self.step = 0
        self.ss = SymmetricState(PROTOCOL_NAME, prologue)

    @property
    def is_complete(self) -> bool:
        return self.step == 3

    def _expect(self, writing: bool) -> None:
        my_turn = (self.step % 2 == 0) == self.initiator
        if self.step >= 3 or my_turn != writing:
            raise NoiseError(f"out-of-order handshake message (step {self.step})")

    def write_message(self, payload: bytes) -> bytes:
        self._expect(writing=True)
        ss = self.ss
        out = bytearray()
        if self.step == 0:  # -> e
            out += self.e_pub
            ss.mix_hash(self.e_pub)
        elif self.step == 1:  # <- e, ee, s, es
            assert self.re is not None
            out += self.e_pub
            ss.mix_hash(self.e_pub)
            ss.mix_key(_dh(self.e, self.re))
            out += ss.encrypt_and_hash(self.s_pub)
            ss.mix_key(_dh(self.s, self.re))
        else:  # -> s, se
            assert self.re is not None
            out += ss.encrypt_and_hash(self.s_pub)
            ss.mix_key(_dh(self.s, self.re))
        out += ss.encrypt_and_hash(payload)
        self.step += 1
        if len(out) > MAX_MESSAGE:
            raise NoiseError(f"handshake message of {len(out)} bytes exceeds {MAX_MESSAGE}")
        return bytes(out)

    def read_message(self, message: bytes) -> bytes:
        self._expect(writing=False)
        ss = self.ss
        pos = 0
        if self.step in (0, 1):  # e
            if len(message) < DHLEN:
                raise NoiseError(f"handshake message {self.step + 1} too short")
            self.re = message[:DHLEN]
            ss.mix_hash(self.re)
            pos = DHLEN
        if self.step == 1:  # ee, s, es
            ss.mix_key(_dh(self.e, self.re))  # type: ignore[arg-type]
            self.remote_static = self._read_static(message[pos : pos + DHLEN + TAGLEN])
            pos += DHLEN + TAGLEN
            ss.mix_key(_dh(self.e, self.remote_static))
        elif self.step == 2:  # s, se
            self.remote_static = self._read_static(message[: DHLEN + TAGLEN])
            pos = DHLEN + TAGLEN
            ss.mix_key(_dh(self.e, self.remote_static))
        payload = ss.decrypt_and_hash(message[pos:])
        self.step += 1
        return payload

    def _read_static(self, chunk: bytes) -> bytes:
        if len(chunk) != DHLEN + TAGLEN:
            raise NoiseError("handshake message too short for the static key")
        return self.ss.decrypt_and_hash(chunk)

    def split(self) -> tuple[CipherState, CipherState]:
        """(send, receive) cipher states for this side."""
        if not self.is_complete:
            raise NoiseError("split before the handshake completed")
        c1, c2 = self.ss.split()
        return (c1, c2) if self.initiator else (c2, c1)

    @property
    def handshake_hash(self) -> bytes:
        return self.ss.h
