"""Security defaults: Noise only, signed static keys, dialed peer id, genesis allowlist."""

from __future__ import annotations

import asyncio

import nacl.signing
import pytest
from p2p_helpers import eventually, key

from cybermesh.p2p import multistream as ms
from cybermesh.p2p import secure
from cybermesh.p2p.host import Host
from cybermesh.p2p.multiaddr import Multiaddr
from cybermesh.p2p.noise import HandshakeXX
from cybermesh.p2p.noise_payload import (
    BadHandshakePayload,
    HandshakePayload,
    encode_payload,
    make_payload,
)
from cybermesh.p2p.peer_id import PeerId, encode_public_key


def forged_payload(identity: nacl.signing.SigningKey, static_pub: bytes) -> bytes:
    """A payload whose signature covers a different static key than the one we use."""
    other = bytes(b ^ 0xFF for b in static_pub)
    return encode_payload(make_payload(identity, other))


def swapped_key_payload(static_pub: bytes) -> bytes:
    """Signed by one key, claiming another identity."""
    good = make_payload(key(51), static_pub)
    return encode_payload(
        HandshakePayload(encode_public_key(bytes(key(52).verify_key)), good.identity_sig)
    )


async def raw_dial(addr: Multiaddr) -> secure.RawConn:
    reader, writer = await asyncio.open_connection(addr.host, addr.port)
    return secure.RawConn(reader, writer)


@pytest.mark.parametrize("forge", ["wrong_static", "wrong_identity"])
async def test_listener_rejects_a_bad_static_key_signature(forge: str) -> None:
    host = Host(key(20))
    addr = await host.listen("127.0.0.1", 0)
    try:
        raw = await raw_dial(addr)
        await ms.select_dialer(raw, [secure.PROTOCOL_ID])
        hs = HandshakeXX(
            initiator=True, static_private=bytes(range(32)), ephemeral_private=bytes(range(1, 33))
        )
        raw.write_noise_message(hs.write_message(b""))
        hs.read_message(await raw.read_noise_message())
        bad = (
            forged_payload(key(21), hs.s_pub)
            if forge == "wrong_static"
            else swapped_key_payload(hs.s_pub)
        )
        raw.write_noise_message(hs.write_message(bad))
        with pytest.raises((asyncio.IncompleteReadError, ConnectionError)):
            await raw.reader.readexactly(1)  # the listener hangs up
        raw.close()
        assert host.metrics["inbound_upgrade_failed"] == 1
        assert host.connections == []
    finally:
        await host.close()


async def test_dialer_rejects_a_bad_static_key_signature() -> None:
    evil_key = key(22)

    async def evil(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raw = secure.RawConn(reader, writer)
        await ms.select_listener(raw, {secure.PROTOCOL_ID})
        hs = HandshakeXX(
            initiator=False, static_private=bytes(range(32)), ephemeral_private=bytes(range(2, 34))
        )
        hs.read_message(await raw.read_noise_message())
        raw.write_noise_message(hs.write_message(forged_payload(evil_key, hs.s_pub)))
        await raw.writer.drain()
        await reader.read()  # until the dialer hangs up
        writer.close()

    server = await asyncio.start_server(evil, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    host = Host(key(23))
    try:
        evil_id = PeerId.from_ed25519(bytes(evil_key.verify_key))
        with pytest.raises(BadHandshakePayload):
            await host.dial(Multiaddr("ip4", "127.0.0.1", port), evil_id)
        assert host.connections == []
    finally:
        server.close()
        await host.close()


async def test_peer_id_mismatch_is_rejected() -> None:
    a, b = Host(key(24)), Host(key(25))
    addr = await b.listen("127.0.0.1", 0)
    someone_else = PeerId.from_ed25519(bytes(key(26).verify_key))
    try:
        with pytest.raises(secure.PeerIdMismatch) as info:
            await a.dial(addr, someone_else)
        assert (info.value.expected, info.value.actual) == (someone_else, b.peer_id)
        await eventually(lambda: b.metrics["inbound_upgrade_failed"] == 1)
        assert a.connections == [] and b.connections == []
    finally:
        await a.close()
        await b.close()


@pytest.mark.parametrize(
    "proto", ["/plaintext/2.0.0", "/plaintext/1.0.0", "/secio/1.0.0", "/tls/1.0.0"]
)
async def test_only_noise_is_offered(proto: str) -> None:
    host = Host(key(27))
    addr = await host.listen("127.0.0.1", 0)
    try:
        raw = await raw_dial(addr)
        with pytest.raises(ms.NegotiationError, match="supports none"):
            await ms.select_dialer(raw, [proto])
        raw.close()
        await eventually(lambda: host.metrics["inbound_upgrade_failed"] == 1)
        assert host.connections == []
    finally:
        await host.close()


async def test_inbound_peer_outside_the_allowlist_is_closed_after_the_handshake() -> None:
    allowed = PeerId.from_ed25519(bytes(key(28).verify_key))
    server = Host(key(29), is_allowed=lambda p: p == allowed)
    addr = await server.listen("127.0.0.1", 0)
    stranger, friend = Host(key(30)), Host(key(28))
    try:
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await stranger.dial(addr, server.peer_id)
        assert server.metrics["inbound_rejected_not_allowed"] == 1
        assert stranger.connections == []
        conn = await friend.dial(addr, server.peer_id)
        assert not conn.is_closed
        await eventually(lambda: len(server.connections) == 1)
        assert server.connections[0].peer_id == allowed
    finally:
        for h in (server, stranger, friend):
            await h.close()


async def test_handshakes_in_progress_are_bounded() -> None:
    host = Host(key(31), max_pending_upgrades=2)
    addr = await host.listen("127.0.0.1", 0)
    raws = []
    try:
        for _ in range(2):  # connect and say nothing: stuck in negotiation
            raws.append(await raw_dial(addr))
        await eventually(lambda: len(host._pending) == 2)
        third = await raw_dial(addr)
        raws.append(third)
        assert await third.reader.read() == b""  # closed at once
        assert host.metrics["inbound_over_limit"] == 1
    finally:
        for r in raws:
            r.close()
        await host.close()
