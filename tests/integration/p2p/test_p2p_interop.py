"""Interop with py-libp2p 0.8.1 (trio, in a subprocess): Noise + yamux both ways, our protocol
ids, 200-byte and 1 MiB messages intact, identical peer ids."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from p2p_helpers import eventually, key, payload

from cybermesh.p2p.framing import encode_frame, read_frame
from cybermesh.p2p.host import Host
from cybermesh.p2p.multiaddr import Multiaddr
from cybermesh.p2p.peer_id import PeerId
from cybermesh.p2p.secure import PeerIdMismatch
from cybermesh.p2p.transport import CONSENSUS, Transport
from cybermesh.p2p.yamux_frame import INITIAL_WINDOW

SIZES = (200, 1 << 20)
CAP = 4 << 20


def test_peer_id_matches_py_libp2p() -> None:
    from libp2p.crypto.ed25519 import create_new_key_pair
    from libp2p.peer.id import ID

    for n in range(20):
        k = key(n)
        theirs = ID.from_pubkey(create_new_key_pair(bytes(k)).public_key)
        ours = PeerId.from_ed25519(bytes(k.verify_key))
        assert str(ours) == theirs.to_base58()
        assert ours.raw == theirs.to_bytes()


async def test_we_dial_py_libp2p_and_exchange(pylibp2p) -> None:
    async with pylibp2p("listen", bytes(key(1)), "--reply", "same") as py:
        addr = Multiaddr.parse(py.ready["addr"])
        assert addr.peer_id == PeerId.from_ed25519(bytes(key(1).verify_key))
        host = Host(key(2))
        try:
            conn = await host.dial(addr, addr.peer_id)
            assert conn.peer_id == addr.peer_id
            stream = await host.open_stream(conn, CONSENSUS)
            for i, size in enumerate(SIZES):
                data = payload(size, i)
                await stream.write(encode_frame(data, CAP))
                assert await asyncio.wait_for(read_frame(stream, CAP), 60) == data
        finally:
            await host.close()


async def test_py_libp2p_dials_us_and_exchange(pylibp2p) -> None:
    host = Host(key(3))
    received: list[bytes] = []

    async def echo(conn, stream) -> None:
        try:
            while True:
                data = await read_frame(stream, CAP)
                received.append(data)
                await stream.write(encode_frame(data, CAP))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass

    host.set_stream_handler(CONSENSUS, echo)
    addr = await host.listen("127.0.0.1", 0)
    try:
        async with pylibp2p("dial", bytes(key(4)), "--target", str(addr)) as py:
            done = await py.line()
            assert done["event"] == "done", done
            assert [r["size"] for r in done["results"]] == list(SIZES)
            assert all(r["echo_ok"] for r in done["results"])
            assert [hashlib.sha256(d).hexdigest() for d in received] == [
                r["sha256"] for r in done["results"]
            ]
            (conn,) = host.connections
            assert str(conn.peer_id) == py.ready["peer_id"]
            assert not conn.initiator
    finally:
        await host.close()


async def test_transport_dials_py_libp2p(pylibp2p) -> None:
    """Transport model: our long-lived stream out, py-libp2p answers on its own stream."""
    async with pylibp2p("listen", bytes(key(5)), "--reply", "new") as py:
        addr = Multiaddr.parse(py.ready["addr"])
        t = Transport(key(6), {addr.peer_id: addr})
        try:
            await t.start()
            sent = [payload(size, i) for i, size in enumerate(SIZES)]
            for data in sent:
                await t.send(addr.peer_id, CONSENSUS, data)
            for data in sent:
                msg = await asyncio.wait_for(t.recv(), 60)
                assert (msg.peer, msg.protocol, msg.data) == (addr.peer_id, CONSENSUS, data)
        finally:
            await t.stop()


async def test_py_libp2p_dials_transport(pylibp2p) -> None:
    py_peer = PeerId.from_ed25519(bytes(key(8).verify_key))
    t = Transport(key(7), {py_peer: None})
    addr = await t.start("/ip4/127.0.0.1/tcp/0")
    assert addr is not None
    try:
        async with pylibp2p("dial", bytes(key(8)), "--target", str(addr), "--reply", "new") as py:
            for i, size in enumerate(SIZES):
                msg = await asyncio.wait_for(t.recv(), 60)
                assert (msg.peer, msg.protocol, msg.data) == (py_peer, CONSENSUS, payload(size, i))
                await t.send(py_peer, CONSENSUS, msg.data)
            done = await py.line()
            assert done["event"] == "done", done
            assert all(r["echo_ok"] for r in done["results"])
    finally:
        await t.stop()


async def test_dialing_py_libp2p_under_wrong_peer_id_fails(pylibp2p) -> None:
    async with pylibp2p("listen", bytes(key(9))) as py:
        addr = Multiaddr.parse(py.ready["addr"])
        wrong = PeerId.from_ed25519(bytes(key(10).verify_key))
        host = Host(key(11))
        try:
            with pytest.raises(PeerIdMismatch) as info:
                await host.dial(addr, wrong)
            assert info.value.actual == addr.peer_id
            assert host.connections == []
        finally:
            await host.close()


async def test_plaintext_only_py_libp2p_cannot_connect(pylibp2p) -> None:
    host = Host(key(12))
    addr = await host.listen("127.0.0.1", 0)
    try:
        async with pylibp2p(
            "dial", bytes(key(13)), "--target", str(addr), "--security", "plaintext"
        ) as py:
            result = await py.line()
            assert result["event"] == "error", result
            await eventually(lambda: host.metrics["inbound_upgrade_failed"] >= 1)
            assert host.connections == []
    finally:
        await host.close()


async def test_16_mib_through_py_libp2p_with_flow_control(pylibp2p) -> None:
    """One 16 MiB message each way: both yamux implementations honour each other's windows."""
    async with pylibp2p("listen", bytes(key(14)), "--reply", "same") as py:
        addr = Multiaddr.parse(py.ready["addr"])
        host = Host(key(15))
        try:
            conn = await host.dial(addr, addr.peer_id)
            stream = await host.open_stream(conn, CONSENSUS)
            data = payload(16 << 20, 0)
            echo = asyncio.create_task(read_frame(stream, 32 << 20))
            await stream.write(encode_frame(data, 32 << 20))
            assert await asyncio.wait_for(echo, 120) == data
            assert stream.window > INITIAL_WINDOW  # our receive window auto-tuned upwards
            assert stream.max_buffered <= stream.window
        finally:
            await host.close()
