"""Noise-secured byte stream over TCP: the libp2p `/noise` handshake and transport framing.

Rules:
1. Every Noise message (handshake or transport) goes on the wire as a 2-byte big-endian
   length followed by that many bytes; at most 65535 bytes including the 16-byte tag, so
   at most MAX_PLAINTEXT = 65519 plaintext bytes per transport message.
2. Handshake: initiator sends msg 1 with an empty payload; the responder's msg 2 and the
   initiator's msg 3 carry the signed libp2p payload (noise_payload). The initiator checks
   the responder's peer id against the dialed one before sending msg 3 (PeerIdMismatch).
3. The static Noise key is a fresh X25519 key per host (libp2p does not bind it to the
   identity except through the signature); the ephemeral key is fresh per handshake.
4. A decryption failure or a short read closes the connection (the error propagates).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Callable
from typing import Final

import nacl.signing

from cybermesh.p2p.noise import TAGLEN, CipherState, HandshakeXX, NoiseError
from cybermesh.p2p.noise_payload import (
    decode_payload,
    encode_payload,
    make_payload,
    verify_payload,
)
from cybermesh.p2p.peer_id import PeerId

PROTOCOL_ID: Final = "/noise"
MAX_NOISE_MESSAGE: Final = 65535
MAX_PLAINTEXT: Final = MAX_NOISE_MESSAGE - TAGLEN
_LEN: Final = struct.Struct(">H")


class PeerIdMismatch(ConnectionError):
    """The remote authenticated as a different peer than the one dialed."""

    def __init__(self, expected: PeerId, actual: PeerId) -> None:
        super().__init__(f"dialed {expected}, remote authenticated as {actual}")
        self.expected = expected
        self.actual = actual


class RawConn:
    """A TCP connection as the ByteStream that multistream-select needs."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def readexactly(self, n: int) -> bytes:
        return await self.reader.readexactly(n)

    async def write(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read_noise_message(self) -> bytes:
        (n,) = _LEN.unpack(await self.reader.readexactly(2))
        return await self.reader.readexactly(n)

    def write_noise_message(self, message: bytes) -> None:
        self.writer.write(_LEN.pack(len(message)) + message)

    def close(self) -> None:
        self.writer.close()


class SecureConn:
    """The plaintext side of an established Noise session (rule 1, 4)."""

    def __init__(
        self, raw: RawConn, send: CipherState, recv: CipherState, local: PeerId, remote: PeerId
    ) -> None:
        self.raw = raw
        self.local_peer = local
        self.remote_peer = remote
        self._send = send
        self._recv = recv
        self._buf = bytearray()
        self._reader = raw.reader
        self._writer = raw.writer

    def send(self, data: bytes) -> None:
        """Encrypt and queue `data` (split into transport messages); never blocks."""
        enc = self._send.encrypt
        if len(data) <= MAX_PLAINTEXT:
            ct = enc(b"", data)
            self._writer.write(_LEN.pack(len(ct)) + ct)
            return
        out = []
        view = memoryview(data)
        for i in range(0, len(data), MAX_PLAINTEXT):
            ct = enc(b"", bytes(view[i : i + MAX_PLAINTEXT]))
            out.append(_LEN.pack(len(ct)))
            out.append(ct)
        self._writer.writelines(out)

    def send_many(self, messages: list[bytes]) -> None:
        """`send` for several messages with one socket write (each must fit MAX_PLAINTEXT)."""
        enc = self._send.encrypt
        out = []
        for m in messages:
            ct = enc(b"", m)
            out.append(_LEN.pack(len(ct)))
            out.append(ct)
        self._writer.writelines(out)

    async def drain(self) -> None:
        await self._writer.drain()

    async def write(self, data: bytes) -> None:
        self.send(data)
        await self._writer.drain()

    async def readexactly(self, n: int) -> bytes:
        buf = self._buf
        while len(buf) < n:
            (size,) = _LEN.unpack(await self._reader.readexactly(2))
            buf += self._recv.decrypt(b"", await self._reader.readexactly(size))
        out = bytes(buf[:n])
        del buf[:n]
        return out

    def close(self) -> None:
        self._writer.close()

    async def wait_closed(self) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()


async def handshake(
    raw: RawConn,
    *,
    initiator: bool,
    identity: nacl.signing.SigningKey,
    static_private: bytes,
    random_bytes: Callable[[int], bytes],
    expected_peer: PeerId | None = None,
) -> SecureConn:
    """Run the libp2p Noise XX handshake on `raw` (rule 2); return the secured stream."""
    hs = HandshakeXX(
        initiator=initiator, static_private=static_private, ephemeral_private=random_bytes(32)
    )
    mine = encode_payload(make_payload(identity, hs.s_pub))
    local = PeerId.from_ed25519(bytes(identity.verify_key))
    if initiator:
        raw.write_noise_message(hs.write_message(b""))
        await raw.writer.drain()
        remote = _remote(hs, hs.read_message(await raw.read_noise_message()))
        if expected_peer is not None and remote != expected_peer:
            raise PeerIdMismatch(expected_peer, remote)
        raw.write_noise_message(hs.write_message(mine))
        await raw.writer.drain()
    else:
        hs.read_message(await raw.read_noise_message())
        raw.write_noise_message(hs.write_message(mine))
        await raw.writer.drain()
        remote = _remote(hs, hs.read_message(await raw.read_noise_message()))
    send, recv = hs.split()
    return SecureConn(raw, send, recv, local, remote)


def _remote(hs: HandshakeXX, payload: bytes) -> PeerId:
    assert hs.remote_static is not None
    return verify_payload(decode_payload(payload), hs.remote_static)


__all__ = ["NoiseError", "PeerIdMismatch", "RawConn", "SecureConn", "handshake"]
