"""multistream-select over an in-memory pipe: header, proposals, `na`, `ls`, limits."""

from __future__ import annotations

import asyncio

import pytest

from cybermesh.p2p import multistream as ms
from cybermesh.p2p.varint import encode_uvarint


class Pipe:
    """One end of an in-memory duplex byte stream."""

    def __init__(self, inbox: asyncio.StreamReader, peer_inbox: asyncio.StreamReader) -> None:
        self.inbox = inbox
        self.peer_inbox = peer_inbox
        self.sent = bytearray()

    async def readexactly(self, n: int) -> bytes:
        return await self.inbox.readexactly(n)

    async def write(self, data: bytes) -> None:
        self.sent += data
        self.peer_inbox.feed_data(data)

    def close(self) -> None:
        self.peer_inbox.feed_eof()


def pipe() -> tuple[Pipe, Pipe]:
    a_in, b_in = asyncio.StreamReader(), asyncio.StreamReader()
    return Pipe(a_in, b_in), Pipe(b_in, a_in)


def test_line_encoding() -> None:
    assert ms.encode_line("/multistream/1.0.0") == b"\x13/multistream/1.0.0\n"
    assert ms.encode_line("na") == b"\x03na\n"
    with pytest.raises(ms.NegotiationError):
        ms.decode_line(b"no newline")


async def test_dialer_and_listener_agree_after_na() -> None:
    d, lst = pipe()
    listener = asyncio.create_task(ms.select_listener(lst, {"/b/1", "/c/1"}))
    chosen = await ms.select_dialer(d, ["/a/1", "/b/1", "/c/1"])
    assert chosen == "/b/1" and await listener == "/b/1"
    # pipelined: the header and the first proposal leave together
    assert bytes(d.sent).startswith(ms.encode_line(ms.PROTOCOL_ID) + ms.encode_line("/a/1"))
    assert ms.encode_line(ms.NA) in bytes(lst.sent)


async def test_nothing_in_common_fails_the_dialer() -> None:
    d, lst = pipe()
    listener = asyncio.create_task(ms.select_listener(lst, {"/noise"}))
    with pytest.raises(ms.NegotiationError, match="supports none"):
        await ms.select_dialer(d, ["/plaintext/2.0.0", "/secio/1.0.0"])
    d.close()
    with pytest.raises(asyncio.IncompleteReadError):
        await listener


async def test_ls_lists_protocols() -> None:
    d, lst = pipe()
    listener = asyncio.create_task(ms.select_listener(lst, {"/y/1", "/x/1"}))
    await d.write(ms.encode_line(ms.PROTOCOL_ID) + ms.encode_line(ms.LS))
    assert await ms.read_line(d) == ms.PROTOCOL_ID
    size = await ms.read_varint(d)
    body = await d.readexactly(size)
    assert body == ms.encode_line("/x/1") + ms.encode_line("/y/1") + b"\n"
    await d.write(ms.encode_line("/x/1"))
    assert await ms.read_line(d) == "/x/1"
    assert await listener == "/x/1"


async def test_wrong_header_fails() -> None:
    d, lst = pipe()
    listener = asyncio.create_task(ms.select_listener(lst, {"/x/1"}))
    await d.write(ms.encode_line("/multistream/2.0.0"))
    with pytest.raises(ms.NegotiationError, match="header"):
        await listener


async def test_oversize_line_and_endless_proposals_fail() -> None:
    d, lst = pipe()
    listener = asyncio.create_task(ms.select_listener(lst, {"/x/1"}))
    await d.write(ms.encode_line(ms.PROTOCOL_ID) + encode_uvarint(ms.MAX_LINE + 1))
    with pytest.raises(ms.NegotiationError, match="length"):
        await listener
    d2, l2 = pipe()
    listener = asyncio.create_task(ms.select_listener(l2, {"/x/1"}))
    await d2.write(ms.encode_line(ms.PROTOCOL_ID))
    for i in range(ms.MAX_ATTEMPTS):
        await d2.write(ms.encode_line(f"/nope/{i}"))
    with pytest.raises(ms.NegotiationError, match="proposals"):
        await listener
