"""yamux between two of our hosts over real TCP + Noise: concurrency, flow control, resets,
a stalled reader, ping, go-away and protocol errors."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator

import pytest
from p2p_helpers import eventually, key, payload

from cybermesh.p2p.host import Connection, Host
from cybermesh.p2p.yamux import SessionClosed, StreamReset, YamuxStream
from cybermesh.p2p.yamux_frame import INITIAL_WINDOW

ECHO, SINK, STALL, RESET = "/t/echo/1", "/t/sink/1", "/t/stall/1", "/t/reset/1"


class Pair:
    def __init__(self) -> None:
        self.client = Host(key(100))
        self.server = Host(key(101))
        self.release = asyncio.Event()
        self.server_streams: dict[str, list[YamuxStream]] = {}
        self.reset_seen: list[BaseException] = []
        self.conn: Connection
        for proto, handler in (
            (ECHO, self._echo),
            (SINK, self._sink),
            (STALL, self._stall),
            (RESET, self._reset_after_1mib),
        ):
            self.server.set_stream_handler(proto, handler)

    async def _echo(self, conn: Connection, s: YamuxStream) -> None:
        self.server_streams.setdefault(ECHO, []).append(s)
        while data := await s.read():
            await s.write(data)
        await s.close()

    async def _sink(self, conn: Connection, s: YamuxStream) -> None:
        self.server_streams.setdefault(SINK, []).append(s)
        h = hashlib.sha256()
        try:
            while data := await s.read():
                h.update(data)
        except StreamReset as exc:
            self.reset_seen.append(exc)
            return
        await s.write(h.digest())
        await s.close()

    async def _stall(self, conn: Connection, s: YamuxStream) -> None:
        self.server_streams.setdefault(STALL, []).append(s)
        await self.release.wait()
        await self._sink(conn, s)

    async def _reset_after_1mib(self, conn: Connection, s: YamuxStream) -> None:
        await s.readexactly(1 << 20)
        s.reset()

    async def open(self, proto: str) -> YamuxStream:
        return await self.client.open_stream(self.conn, proto)


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    p = Pair()
    addr = await p.server.listen("127.0.0.1", 0)
    p.conn = await p.client.dial(addr, p.server.peer_id)
    yield p
    await p.client.close()
    await p.server.close()


async def echo_roundtrip(p: Pair, data: bytes) -> bytes:
    s = await p.open(ECHO)
    reader = asyncio.create_task(s.readexactly(len(data)))
    await s.write(data)
    await s.close()
    out = await reader
    assert await s.read() == b""  # the echo side closed too
    return out


async def test_100_concurrent_streams(pair: Pair) -> None:
    datas = [payload(20_000 + i * 997, i) for i in range(100)]
    results = await asyncio.gather(*(echo_roundtrip(pair, d) for d in datas))
    assert results == datas
    assert len(pair.server_streams[ECHO]) == 100
    ids = sorted(s.id for s in pair.server_streams[ECHO])
    assert all(i % 2 == 1 for i in ids) and len(set(ids)) == 100  # client ids are odd
    await eventually(lambda: not pair.conn.session.streams)  # all forgotten after FIN/FIN


async def test_16_mib_transfer_with_flow_control(pair: Pair) -> None:
    data = payload(16 << 20, 7)
    s = await pair.open(SINK)
    await s.write(data)
    await s.close()
    assert await s.readexactly(32) == hashlib.sha256(data).digest()
    (server_side,) = pair.server_streams[SINK]
    assert server_side.max_buffered <= server_side.window <= pair.conn.session.max_window
    assert s.window_waits > 0  # the sender did run out of window and wait for updates


async def test_reset_by_receiver_mid_transfer(pair: Pair) -> None:
    s = await pair.open(RESET)
    with pytest.raises(StreamReset):
        await s.write(payload(8 << 20, 1))
    assert s.id not in pair.conn.session.streams
    assert await echo_roundtrip(pair, b"still alive") == b"still alive"


async def test_reset_by_sender_mid_transfer(pair: Pair) -> None:
    s = await pair.open(SINK)
    await s.write(payload(1 << 20, 2))
    s.reset()
    with pytest.raises(StreamReset):
        await s.write(b"more")
    await eventually(lambda: len(pair.reset_seen) == 1)
    assert await echo_roundtrip(pair, b"other streams fine") == b"other streams fine"


async def test_stalled_reader_does_not_wedge_other_streams(pair: Pair) -> None:
    stalled = await pair.open(STALL)
    data = payload(2 << 20, 3)

    async def write_all() -> None:
        await stalled.write(data)
        await stalled.close()

    writer = asyncio.create_task(write_all())
    await eventually(lambda: stalled.send_window == 0)
    (server_side,) = pair.server_streams[STALL]
    assert server_side.window == INITIAL_WINDOW  # a reader that stops never grows its window
    # the stalled stream holds one window; everything else still flows
    others = [payload(300_000, i) for i in range(10)]
    assert await asyncio.gather(*(echo_roundtrip(pair, d) for d in others)) == others
    assert not writer.done()
    pair.release.set()
    await writer
    assert await stalled.readexactly(32) == hashlib.sha256(data).digest()


async def test_ping_and_go_away(pair: Pair) -> None:
    await pair.conn.session.ping()
    (server_conn,) = pair.server.connections
    s = await pair.open(ECHO)
    await server_conn.session.close()
    await eventually(lambda: pair.conn.is_closed)
    with pytest.raises(StreamReset):
        await s.read()
    with pytest.raises(SessionClosed):
        await pair.conn.session.open_stream()


async def test_data_beyond_the_window_is_a_protocol_error(pair: Pair) -> None:
    s = await pair.open(STALL)
    s.send_window = 4 * INITIAL_WINDOW  # a misbehaving sender ignoring the window
    (server_conn,) = pair.server.connections
    with contextlib.suppress(ConnectionError):  # the session may close while we write
        await s.write(payload(INITIAL_WINDOW + 65536, 4))
    await eventually(lambda: server_conn.is_closed and pair.conn.is_closed)
    assert "beyond window" in str(server_conn.session.close_reason)


async def test_streams_beyond_the_inbound_limit_are_refused(pair: Pair) -> None:
    (server_conn,) = pair.server.connections
    server_conn.session.max_inbound_streams = 3
    held = [await pair.open(STALL) for _ in range(3)]
    await eventually(lambda: len(pair.server_streams.get(STALL, [])) == 3)
    with pytest.raises((StreamReset, ConnectionError, asyncio.IncompleteReadError)):
        await pair.open(ECHO)  # RST instead of a multistream answer
    assert server_conn.session.refused_streams == 1
    for s in held:
        s.reset()
    await eventually(lambda: server_conn.session._inbound_open == 0)
    assert await echo_roundtrip(pair, b"room again") == b"room again"
