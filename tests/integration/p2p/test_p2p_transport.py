"""The Transport the consensus driver uses: delivery, request/response, bounded queues, rate
limits, frame caps, reconnects, duplicate connections, allowlist from genesis."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable

import pytest
from p2p_helpers import eventually, key

from cybermesh.genesis import parse_genesis
from cybermesh.p2p.framing import FrameTooLarge
from cybermesh.p2p.multiaddr import Multiaddr
from cybermesh.p2p.peer_id import PeerId
from cybermesh.p2p.transport import (
    CONSENSUS,
    SYNC,
    Message,
    NotConnected,
    PeerEvent,
    ProtocolSpec,
    Transport,
    TransportConfig,
    UnknownPeer,
    UnknownProtocol,
)

FAST = TransportConfig(backoff_base=0.05, backoff_cap=0.5, dial_grace=0.2)


def pid(n: int) -> PeerId:
    return PeerId.from_ed25519(bytes(key(n).verify_key))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


Factory = Callable[..., "asyncio.Future[Transport]"]


@pytest.fixture
async def transports() -> AsyncIterator[Callable[..., object]]:
    started: list[Transport] = []

    async def make(n: int, config: TransportConfig = FAST, port: int = 0) -> Transport:
        t = Transport(key(n), {}, config)
        await t.start(f"/ip4/127.0.0.1/tcp/{port}")
        started.append(t)
        return t

    yield make
    for t in started:
        await t.stop()


def link(a: Transport, b: Transport) -> None:
    """Allowlist each other (with addresses), as genesis would."""
    a.add_peer(b.peer_id, b.listen_addr)
    b.add_peer(a.peer_id, a.listen_addr)


async def recv_n(t: Transport, n: int) -> list[Message]:
    return [await asyncio.wait_for(t.recv(), 30) for _ in range(n)]


def test_allowlist_comes_from_genesis() -> None:
    validators = [
        {
            "id": f"v{i}",
            "consensus_pubkey": bytes(key(900 + i).verify_key).hex(),
            "node_pubkey": bytes(key(i).verify_key).hex(),
            "address": f"/ip4/127.0.0.1/tcp/{41000 + i}",
        }
        for i in range(4)
    ]
    g = parse_genesis(
        {"chain_id": "t", "genesis_time": 0, "validators": validators, "producers": []}
    )
    t = Transport.from_genesis(g, key(0))
    assert t.peer_id == pid(0)
    assert t.peers == sorted(pid(i) for i in (1, 2, 3))  # never itself
    assert t.host.is_allowed(pid(2)) and not t.host.is_allowed(pid(7))


async def test_mesh_send_broadcast_and_events(transports) -> None:
    a, b, c = await transports(1), await transports(2), await transports(3)
    for x, y in ((a, b), (a, c), (b, c)):
        link(x, y)
    await a.broadcast(CONSENSUS, b"hello")
    for t in (b, c):
        (msg,) = await recv_n(t, 1)
        assert msg == Message(a.peer_id, CONSENSUS, b"hello")
    await c.send(b.peer_id, CONSENSUS, b"c->b")
    assert (await recv_n(b, 1))[0] == Message(c.peer_id, CONSENSUS, b"c->b")
    await eventually(lambda: len(a.connected_peers()) == 2)
    events = []
    while not a.events.empty():
        events.append(a.events.get_nowait())
    assert sorted(e.peer for e in events if e.connected) == sorted([b.peer_id, c.peer_id])


async def test_order_is_kept_per_peer_and_protocol(transports) -> None:
    # send() never yields, so the queue must hold the whole burst (else: drop-oldest)
    a = await transports(4, TransportConfig(outbound_queue=2000, dial_grace=0.2))
    b = await transports(5)
    link(a, b)
    for i in range(2000):
        await a.send(b.peer_id, CONSENSUS, i.to_bytes(4, "big") * 50)
    got = await recv_n(b, 2000)
    assert [int.from_bytes(m.data[:4], "big") for m in got] == list(range(2000))


async def test_request_response(transports) -> None:
    a, b = await transports(6), await transports(7)
    link(a, b)

    async def serve(peer: PeerId, data: bytes) -> bytes:
        if data == b"boom":
            raise RuntimeError("handler failed")
        if data == b"slow":
            await asyncio.sleep(3600)
        return peer.raw[-4:] + data[::-1]

    b.set_request_handler(SYNC, serve)
    await eventually(lambda: a.is_connected(b.peer_id))
    assert await a.request(b.peer_id, SYNC, b"abc", timeout=30) == a.peer_id.raw[-4:] + b"cba"
    big = bytes(range(256)) * 8192  # 2 MiB answer path
    assert await a.request(b.peer_id, SYNC, big, timeout=30) == a.peer_id.raw[-4:] + big[::-1]
    with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
        await a.request(b.peer_id, SYNC, b"boom", timeout=30)
    assert b.metrics["request_handler_errors"] == 1
    with pytest.raises(TimeoutError):
        await a.request(b.peer_id, SYNC, b"slow", timeout=0.2)
    # b has no handler for requests the other way
    with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
        await b.request(a.peer_id, SYNC, b"x", timeout=30)
    assert await a.request(b.peer_id, SYNC, b"again", timeout=30) == a.peer_id.raw[-4:] + b"niaga"


async def test_api_errors(transports) -> None:
    a = await transports(8)
    with pytest.raises(UnknownPeer):
        await a.send(pid(99), CONSENSUS, b"x")
    a.add_peer(pid(98), None)
    with pytest.raises(UnknownProtocol):
        await a.send(pid(98), "/other/1.0.0", b"x")
    with pytest.raises(UnknownProtocol):
        await a.send(pid(98), SYNC, b"x")
    with pytest.raises(FrameTooLarge):
        await a.send(pid(98), CONSENSUS, bytes(FAST.protocols[0].max_frame + 1))
    with pytest.raises(NotConnected):
        await a.request(pid(98), SYNC, b"x", timeout=1)


async def test_outbound_queue_drops_oldest_while_peer_is_away(transports) -> None:
    port = free_port()
    cfg = TransportConfig(outbound_queue=10, backoff_base=0.05, backoff_cap=0.2, dial_grace=0)
    a = await transports(9, cfg)
    a.add_peer(pid(10), Multiaddr("ip4", "127.0.0.1", port))
    for i in range(50):
        await a.send(pid(10), CONSENSUS, b"%d" % i)
    assert a.metrics["outbound_dropped"] == 40
    b = await transports(10, FAST, port)
    b.add_peer(a.peer_id, a.listen_addr)
    got = await recv_n(b, 10)
    assert [m.data for m in got] == [b"%d" % i for i in range(40, 50)]
    assert b.inbound.empty()


async def test_inbound_queue_blocks_and_backpressures_without_loss(transports) -> None:
    cfg = TransportConfig(inbound_queue=4, backoff_base=0.05, dial_grace=0.2)
    a, b = await transports(11), await transports(12, cfg)
    link(a, b)
    for i in range(300):
        await a.send(b.peer_id, CONSENSUS, i.to_bytes(2, "big") * 1000)
    await eventually(lambda: b.metrics["inbound_queue_full"] >= 1)
    assert b.inbound.qsize() == 4
    got = await recv_n(b, 300)
    assert [int.from_bytes(m.data[:2], "big") for m in got] == list(range(300))
    assert a.metrics["outbound_dropped"] == 0


async def test_per_peer_rate_limit_drops_excess(transports) -> None:
    cfg = TransportConfig(rate_per_s=0.001, burst=5, backoff_base=0.05, dial_grace=0.2)
    a, b, c = await transports(13), await transports(14, cfg), await transports(15)
    link(a, b)
    link(c, b)
    for i in range(20):
        await a.send(b.peer_id, CONSENSUS, b"a%d" % i)
    await eventually(lambda: b.metrics["rate_limited"] == 15)
    await c.send(b.peer_id, CONSENSUS, b"c0")  # another peer has its own bucket
    got = await recv_n(b, 6)
    assert [m.data for m in got[:5]] == [b"a%d" % i for i in range(5)]
    assert got[5] == Message(c.peer_id, CONSENSUS, b"c0")


async def test_inbound_filter_hook(transports) -> None:
    a, b = await transports(16), await transports(17)
    b.inbound_filter = lambda m: not m.data.startswith(b"stale")
    link(a, b)
    for data in (b"stale-1", b"fresh-1", b"stale-2", b"fresh-2"):
        await a.send(b.peer_id, CONSENSUS, data)
    assert [m.data for m in await recv_n(b, 2)] == [b"fresh-1", b"fresh-2"]
    assert b.metrics["filtered"] == 2


async def test_oversize_inbound_frame_resets_the_stream_only(transports) -> None:
    small = TransportConfig(
        protocols=(ProtocolSpec(CONSENSUS, 1024), ProtocolSpec(SYNC, 1024, True)),
        backoff_base=0.05,
        dial_grace=0.2,
    )
    a, b = await transports(18), await transports(19, small)
    link(a, b)
    await a.send(b.peer_id, CONSENSUS, bytes(2048))
    await eventually(lambda: b.metrics["frame_too_large"] == 1)
    (conn,) = a.host.connections
    await eventually(lambda: not conn.session.streams)  # a has seen the RST
    await a.send(b.peer_id, CONSENSUS, b"small")
    msgs = await recv_n(b, 1)
    assert msgs[0].data == b"small"


async def test_reconnect_after_peer_restart(transports) -> None:
    a, b = await transports(20), await transports(21)
    link(a, b)
    await a.send(b.peer_id, CONSENSUS, b"before")
    assert (await recv_n(b, 1))[0].data == b"before"
    assert b.listen_addr is not None
    port = b.listen_addr.port
    await b.stop()
    await eventually(lambda: not a.is_connected(b.peer_id))
    evs: list[PeerEvent] = []
    while not a.events.empty():
        evs.append(a.events.get_nowait())
    assert evs[-1] == PeerEvent(b.peer_id, False)
    b2 = await transports(21, FAST, port)
    b2.add_peer(a.peer_id, a.listen_addr)
    await a.send(b.peer_id, CONSENSUS, b"after")
    got = await recv_n(b2, 1)
    assert got[0] == Message(a.peer_id, CONSENSUS, b"after")
    assert a.is_connected(b.peer_id)


async def test_simultaneous_dials_converge_on_one_connection(transports) -> None:
    cfg = TransportConfig(backoff_base=0.05, dial_grace=0)
    a, b = await transports(22, cfg), await transports(23, cfg)
    link(a, b)

    def settled() -> bool:
        return (
            len([c for c in a.host.connections if not c.is_closed]) == 1
            and len([c for c in b.host.connections if not c.is_closed]) == 1
            and a.is_connected(b.peer_id)
            and b.is_connected(a.peer_id)
        )

    await eventually(settled)
    (ca,) = a.host.connections
    smaller = min(a.peer_id, b.peer_id)
    assert (a.peer_id if ca.initiator else b.peer_id) == smaller
    for i in range(10):
        await a.send(b.peer_id, CONSENSUS, b"%d" % i)
        await b.send(a.peer_id, CONSENSUS, b"%d" % i)
    assert len(await recv_n(a, 10)) == 10 and len(await recv_n(b, 10)) == 10


async def test_stranger_cannot_get_messages_in(transports) -> None:
    a, b = await transports(24), await transports(25)
    a.add_peer(b.peer_id, b.listen_addr)  # b does not allowlist a
    await eventually(lambda: a.metrics["dials_failed"] >= 1)
    assert b.host.metrics["inbound_rejected_not_allowed"] >= 1
    assert not a.is_connected(b.peer_id)
    await a.send(b.peer_id, CONSENSUS, b"let me in")
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(b.recv(), 0.3)
        pytest.fail("a stranger's message was delivered")


async def test_keepalive_drops_a_silent_peer_and_redials(transports) -> None:
    cfg = TransportConfig(
        backoff_base=0.05, dial_grace=0.2, keepalive_interval=0.05, keepalive_timeout=0.2
    )
    a, b = await transports(26, cfg), await transports(27)
    link(a, b)
    await eventually(lambda: a.metrics["pings_ok"] >= 2)
    (silent,) = [c for c in b.host.connections if not c.is_closed]
    silent.session._send = lambda frame: None  # b goes silent: no FIN, no RST, no PONG
    await eventually(lambda: a.metrics["keepalive_timeouts"] == 1)
    await a.send(b.peer_id, CONSENSUS, b"after keepalive")
    msgs = await recv_n(b, 1)
    assert msgs[0].data == b"after keepalive"


async def test_frame_stays_queued_when_its_connection_is_dropped_while_opening_a_stream(
    transports,
) -> None:
    """The keepalive race, made deterministic: the connection the writer is opening a stream
    on is closed in the meantime (as duplicate resolution does). The frame must go out on the
    next connection, not be counted lost."""
    a, b = await transports(28), await transports(29)
    link(a, b)
    await eventually(lambda: a.is_connected(b.peer_id) and b.is_connected(a.peer_id))
    (first,) = [c for c in a.host.connections if not c.is_closed]
    open_stream = a.host.open_stream
    dropped: list[object] = []

    async def drop_then_open(conn, protocol):  # type: ignore[no-untyped-def]
        if conn is first:
            dropped.append(conn)
            await conn.close()
        return await open_stream(conn, protocol)

    a.host.open_stream = drop_then_open  # type: ignore[method-assign]
    await a.send(b.peer_id, CONSENSUS, b"across the reconnect")
    msgs = await recv_n(b, 1)
    assert msgs[0] == Message(a.peer_id, CONSENSUS, b"across the reconnect")
    assert dropped == [first]
    assert a.metrics["outbound_lost"] == 0


async def test_a_connection_lost_on_both_sides_is_redialed_by_the_smaller_id_only(
    transports,
) -> None:
    """Rule 7 on redial: both sides see the close; only the smaller id dials at once, so no
    duplicate connection (whose resolution could cut frames in flight) is made."""
    cfg = TransportConfig(backoff_base=0.05, dial_grace=5.0)
    a, b = await transports(30, cfg), await transports(31, cfg)
    link(a, b)
    await eventually(lambda: a.is_connected(b.peer_id) and b.is_connected(a.peer_id))
    (first,) = [c for c in a.host.connections if not c.is_closed]
    await first.close()

    def reconnected() -> bool:
        live = [c for c in a.host.connections if not c.is_closed]
        return len(live) == 1 and live[0] is not first and b.is_connected(a.peer_id)

    await eventually(reconnected)
    (second,) = [c for c in a.host.connections if not c.is_closed]
    smaller = min(a.peer_id, b.peer_id)
    assert (a.peer_id if second.initiator else b.peer_id) == smaller
    assert a.metrics["duplicate_connections"] == 0
    assert b.metrics["duplicate_connections"] == 0
    await a.send(b.peer_id, CONSENSUS, b"one connection")
    assert (await recv_n(b, 1))[0].data == b"one connection"


async def test_a_peer_redialing_replaces_a_connection_we_did_not_see_die(transports) -> None:
    """Rule 9: the smaller id holds its own connection, which the larger id lost without a FIN
    reaching the smaller one (here: the smaller side's reader is stopped). Rule 7 alone would
    keep the stale connection and close every redial until a keepalive noticed (never, with
    keepalive off). The stale one does not answer a PING, so the redial replaces it."""
    no_keepalive = TransportConfig(
        backoff_base=0.05, dial_grace=0.2, keepalive_interval=0, keepalive_timeout=0.5
    )
    a, b = await transports(32, no_keepalive), await transports(33, no_keepalive)
    small, large = (a, b) if a.peer_id < b.peer_id else (b, a)
    link(a, b)
    await eventually(lambda: a.is_connected(b.peer_id) and b.is_connected(a.peer_id))
    (stale,) = [c for c in small.host.connections if not c.is_closed]
    assert stale.initiator  # dialed by the smaller id: rule 7 prefers it
    assert stale.session._reader is not None
    stale.session._reader.cancel()  # deaf: the larger side's FIN and PONGs never arrive
    (gone,) = [c for c in large.host.connections if not c.is_closed]
    await gone.close()

    def replaced() -> bool:
        return (
            small.is_connected(large.peer_id)
            and small._peers[large.peer_id].conn is not stale
            and large.is_connected(small.peer_id)
        )

    await eventually(replaced)
    assert small.metrics["stale_connections_replaced"] == 1
    await small.send(large.peer_id, CONSENSUS, b"to large")
    await large.send(small.peer_id, CONSENSUS, b"to small")
    assert (await recv_n(large, 1))[0].data == b"to large"
    assert (await recv_n(small, 1))[0].data == b"to small"
