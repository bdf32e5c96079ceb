"""Unsigned LEB128 varints (multiformats `unsigned-varint`), as used by libp2p framing.

Rules:
1. At most 9 bytes (63 bits), as the multiformats spec requires.
2. Minimal encoding only: a trailing 0x00 continuation byte is rejected (non-canonical).
"""

from __future__ import annotations

from typing import Final

MAX_LEN: Final = 9


class VarintError(ValueError):
    """A malformed varint: too long, non-minimal, or negative input."""


def encode_uvarint(value: int) -> bytes:
    if value < 0 or value >= 1 << 63:
        raise VarintError(f"uvarint out of range: {value}")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_uvarint(buf: bytes | bytearray | memoryview, offset: int = 0) -> tuple[int, int] | None:
    """Decode a varint at `offset`; return (value, next_offset), or None if `buf` ends first."""
    value = 0
    shift = 0
    for i in range(offset, min(len(buf), offset + MAX_LEN)):
        byte = buf[i]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if byte == 0 and i > offset:
                raise VarintError("non-minimal uvarint encoding")
            return value, i + 1
        shift += 7
    if len(buf) - offset >= MAX_LEN:
        raise VarintError(f"uvarint longer than {MAX_LEN} bytes")
    return None
