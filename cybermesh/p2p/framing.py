"""Message frames on protocol streams: `uvarint(len) || payload`, with a size cap.

Rules:
1. A frame longer than the protocol's cap is refused before its body is read
   (FrameTooLarge); the stream is then reset by the caller.
2. `encode_frame` refuses to build an oversize frame, so a sender learns at once.
"""

from __future__ import annotations

from cybermesh.p2p.multistream import ByteStream
from cybermesh.p2p.varint import decode_uvarint, encode_uvarint


class FrameTooLarge(ValueError):
    def __init__(self, protocol: str, size: int, cap: int) -> None:
        super().__init__(f"{protocol}: frame of {size} bytes exceeds the cap of {cap}")
        self.protocol = protocol
        self.size = size
        self.cap = cap


def encode_frame(data: bytes, cap: int, protocol: str = "") -> bytes:
    if len(data) > cap:
        raise FrameTooLarge(protocol, len(data), cap)
    return encode_uvarint(len(data)) + data


async def read_frame(stream: ByteStream, cap: int, protocol: str = "") -> bytes:
    """One frame; asyncio.IncompleteReadError at a clean end of stream."""
    head = bytearray(await stream.readexactly(1))
    decoded = decode_uvarint(head)
    while decoded is None:
        head += await stream.readexactly(1)
        decoded = decode_uvarint(head)
    size = decoded[0]
    if size > cap:
        raise FrameTooLarge(protocol, size, cap)
    return await stream.readexactly(size) if size else b""
