"""yamux 1.0.0 frame header codec (hashicorp/yamux `spec.md`), pure.

Header (12 bytes, big-endian): version u8 (= 0) | type u8 | flags u16 | stream id u32 |
length u32.

Rules:
1. Types: DATA (length = payload bytes that follow), WINDOW_UPDATE (length = window delta),
   PING (stream 0, length = opaque value), GO_AWAY (stream 0, length = error code).
2. Flags: SYN opens a stream, ACK accepts it, FIN half-closes, RST resets; SYN/ACK may ride on
   DATA or WINDOW_UPDATE; on PING, SYN = request and ACK = response.
3. A version other than 0 or an unknown type is a protocol error.
4. The client (connection dialer) uses odd stream ids, the server even ones; 0 is the session.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

HEADER: Final = struct.Struct(">BBHII")
HEADER_LEN: Final = 12
VERSION: Final = 0

TYPE_DATA: Final = 0
TYPE_WINDOW_UPDATE: Final = 1
TYPE_PING: Final = 2
TYPE_GO_AWAY: Final = 3

FLAG_SYN: Final = 0x1
FLAG_ACK: Final = 0x2
FLAG_FIN: Final = 0x4
FLAG_RST: Final = 0x8

GO_AWAY_NORMAL: Final = 0
GO_AWAY_PROTOCOL_ERROR: Final = 1
GO_AWAY_INTERNAL_ERROR: Final = 2

INITIAL_WINDOW: Final = 256 * 1024


class YamuxProtocolError(Exception):
    """The remote broke the yamux protocol; the session is closed with GO_AWAY(1)."""


@dataclass(frozen=True, slots=True)
class Header:
    type: int
    flags: int
    stream_id: int
    length: int


def encode_header(type_: int, flags: int, stream_id: int, length: int) -> bytes:
    return HEADER.pack(VERSION, type_, flags, stream_id, length)


def decode_header(raw: bytes) -> Header:
    version, type_, flags, stream_id, length = HEADER.unpack(raw)
    if version != VERSION:
        raise YamuxProtocolError(f"unsupported yamux version {version}")
    if type_ > TYPE_GO_AWAY:
        raise YamuxProtocolError(f"unknown yamux frame type {type_}")
    return Header(type_, flags, stream_id, length)


def is_local_id(stream_id: int, is_client: bool) -> bool:
    """Rule 4: whether `stream_id` belongs to the side that `is_client` describes."""
    return stream_id != 0 and (stream_id % 2 == 1) == is_client
