"""multistream-select `/multistream/1.0.0` (libp2p spec `connections/README.md`).

Every message is a line: `uvarint(len(text) + 1) || text || "\\n"`.

Rules:
1. Both sides first send the header `/multistream/1.0.0`; a different header fails.
2. The dialer proposes protocols one at a time (the header and the first proposal are sent
   together, without waiting: pipelining is allowed by the spec); the listener echoes a
   protocol it supports or answers `na`; the dialer then tries the next one.
3. The listener answers `ls` with the list of its protocols (each as a line, all wrapped in one
   length-prefixed message), as go-libp2p does; it is optional for dialers.
4. A line is at most MAX_LINE bytes and must end in `\\n`; a listener gives up after
   MAX_ATTEMPTS proposals (a peer cannot keep a connection in negotiation forever).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Final, Protocol

from cybermesh.p2p.varint import decode_uvarint, encode_uvarint

PROTOCOL_ID: Final = "/multistream/1.0.0"
NA: Final = "na"
LS: Final = "ls"
MAX_LINE: Final = 1024
MAX_ATTEMPTS: Final = 16


class NegotiationError(ConnectionError):
    """Protocol negotiation failed (bad header, malformed line, or nothing in common)."""


class ByteStream(Protocol):
    """The two calls negotiation needs from a raw, secured or muxed stream."""

    async def readexactly(self, n: int) -> bytes: ...

    async def write(self, data: bytes) -> None: ...


def encode_line(text: str) -> bytes:
    body = text.encode("utf-8") + b"\n"
    if len(body) > MAX_LINE:
        raise NegotiationError(f"line of {len(body)} bytes exceeds {MAX_LINE}")
    return encode_uvarint(len(body)) + body


def decode_line(body: bytes) -> str:
    if not body.endswith(b"\n"):
        raise NegotiationError(f"multistream line without trailing newline: {body[:64]!r}")
    try:
        return body[:-1].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NegotiationError(f"multistream line is not UTF-8: {body[:64]!r}") from exc


def encode_ls_response(protocols: Sequence[str]) -> bytes:
    inner = b"".join(encode_line(p) for p in protocols) + b"\n"
    return encode_uvarint(len(inner)) + inner


async def read_varint(stream: ByteStream) -> int:
    buf = bytearray()
    while True:
        buf += await stream.readexactly(1)
        decoded = decode_uvarint(buf)
        if decoded is not None:
            return decoded[0]


async def read_line(stream: ByteStream) -> str:
    n = await read_varint(stream)
    if n == 0 or n > MAX_LINE:
        raise NegotiationError(f"multistream line length {n} outside 1..{MAX_LINE}")
    return decode_line(await stream.readexactly(n))


async def select_dialer(stream: ByteStream, protocols: Sequence[str]) -> str:
    """Negotiate as the dialer; return the first of `protocols` the listener accepts (rule 2)."""
    if not protocols:
        raise NegotiationError("no protocols to propose")
    await stream.write(encode_line(PROTOCOL_ID) + encode_line(protocols[0]))
    header = await read_line(stream)
    if header != PROTOCOL_ID:
        raise NegotiationError(f"unexpected multistream header {header!r}")
    for i, proto in enumerate(protocols):
        if i > 0:
            await stream.write(encode_line(proto))
        answer = await read_line(stream)
        if answer == proto:
            return proto
        if answer != NA:
            raise NegotiationError(f"proposed {proto!r}, listener answered {answer!r}")
    raise NegotiationError(f"listener supports none of {list(protocols)}")


async def select_listener(stream: ByteStream, supported: Collection[str]) -> str:
    """Negotiate as the listener; return the protocol the dialer chose (rules 1, 3, 4)."""
    await stream.write(encode_line(PROTOCOL_ID))
    header = await read_line(stream)
    if header != PROTOCOL_ID:
        raise NegotiationError(f"unexpected multistream header {header!r}")
    for _ in range(MAX_ATTEMPTS):
        proposal = await read_line(stream)
        if proposal in supported:
            await stream.write(encode_line(proposal))
            return proposal
        if proposal == LS:
            await stream.write(encode_ls_response(sorted(supported)))
        else:
            await stream.write(encode_line(NA))
    raise NegotiationError(f"dialer made {MAX_ATTEMPTS} proposals without agreement")
