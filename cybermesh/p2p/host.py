"""A libp2p host on asyncio: TCP listen/dial, upgrade to Noise + yamux, protocol streams.

Connection upgrade (both directions):
    TCP -> multistream-select `/noise` -> Noise XX (secure.handshake)
        -> multistream-select `/yamux/1.0.0` -> yamux Session.
Streams: each new yamux stream negotiates one protocol id with multistream-select.

Rules:
1. Security is Noise only: the listener answers `na` to `/plaintext/*`, `/secio/*`, `/tls/*`,
   and the dialer proposes nothing else.
2. A dialed connection must authenticate as the expected peer id (secure.PeerIdMismatch).
3. An inbound connection whose authenticated peer id fails `is_allowed` is closed right after
   the handshake, before any stream can be opened (counted in `metrics`).
4. The whole upgrade has a deadline (`upgrade_timeout`); stream negotiation as well.
5. Inbound streams for protocols without a handler are refused by `na`.
6. At most `max_pending_upgrades` inbound connections may be in the handshake at once; more
   are closed at once (metric `inbound_over_limit`): unauthenticated peers cannot make us run
   unbounded X25519 work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import nacl.signing

from cybermesh.p2p import multistream, secure, yamux
from cybermesh.p2p.multiaddr import Multiaddr
from cybermesh.p2p.peer_id import PeerId

log = logging.getLogger(__name__)

StreamHandler = Callable[["Connection", yamux.YamuxStream], Awaitable[None]]
ConnectionHandler = Callable[["Connection"], Awaitable[None]]


class PeerNotAllowed(ConnectionError):
    """The remote authenticated as a peer id outside the allowlist."""


@dataclass(eq=False)
class Connection:
    peer_id: PeerId
    session: yamux.Session
    initiator: bool
    """True when we dialed."""
    remote_addr: str
    opened_at: float
    """Event-loop time at which the upgrade completed."""
    _tasks: set[asyncio.Task[None]] = field(default_factory=set, repr=False)

    @property
    def is_closed(self) -> bool:
        return self.session.is_closed

    async def close(self) -> None:
        await self.session.close()


class Host:
    def __init__(
        self,
        identity: nacl.signing.SigningKey,
        *,
        is_allowed: Callable[[PeerId], bool] | None = None,
        random_bytes: Callable[[int], bytes] = os.urandom,
        upgrade_timeout: float = 10.0,
        max_pending_upgrades: int = 64,
    ) -> None:
        self.identity = identity
        self.peer_id = PeerId.from_ed25519(bytes(identity.verify_key))
        self.is_allowed = is_allowed or (lambda _peer: True)
        self.random_bytes = random_bytes
        self.upgrade_timeout = upgrade_timeout
        self.max_pending_upgrades = max_pending_upgrades
        self._static = random_bytes(32)
        self._handlers: dict[str, StreamHandler] = {}
        self.on_connection: ConnectionHandler | None = None
        self.on_disconnect: ConnectionHandler | None = None
        self._servers: list[asyncio.Server] = []
        self._conns: set[Connection] = set()
        self._pending: set[asyncio.Task[None]] = set()
        self.metrics: Counter[str] = Counter()

    # -- handlers ------------------------------------------------------------------------------
    def set_stream_handler(self, protocol: str, handler: StreamHandler) -> None:
        self._handlers[protocol] = handler

    # -- listening -----------------------------------------------------------------------------
    async def listen(self, host: str = "127.0.0.1", port: int = 0) -> Multiaddr:
        server = await asyncio.start_server(self._on_tcp, host, port, limit=1 << 20)
        self._servers.append(server)
        sock_host, sock_port = server.sockets[0].getsockname()[:2]
        proto = "ip6" if ":" in sock_host else "ip4"
        return Multiaddr(proto, sock_host, sock_port, self.peer_id)

    async def _on_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self._pending) >= self.max_pending_upgrades:
            self.metrics["inbound_over_limit"] += 1
            await _close_writer(writer)
            return
        self._pending.add(task)
        try:
            peer = writer.get_extra_info("peername")
            conn = await asyncio.wait_for(
                self._upgrade(reader, writer, initiator=False, expected=None),
                self.upgrade_timeout,
            )
        except PeerNotAllowed as exc:
            self.metrics["inbound_rejected_not_allowed"] += 1
            log.warning("closed inbound connection from %s: %s", peer, exc)
            await _close_writer(writer)
            return
        except asyncio.CancelledError:
            writer.close()
            raise
        except Exception as exc:  # noqa: BLE001 - whatever an unauthenticated peer sent: hang up
            self.metrics["inbound_upgrade_failed"] += 1
            log.info("inbound upgrade from %s failed: %r", peer, exc)
            await _close_writer(writer)
            return
        finally:
            self._pending.discard(task)
        await self._established(conn)

    # -- dialing -------------------------------------------------------------------------------
    async def dial(self, addr: Multiaddr, expected: PeerId) -> Connection:
        """Connect to `addr` and authenticate `expected` (rule 2)."""
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(addr.host, addr.port, limit=1 << 20), self.upgrade_timeout
        )
        try:
            conn = await asyncio.wait_for(
                self._upgrade(reader, writer, initiator=True, expected=expected),
                self.upgrade_timeout,
            )
        except BaseException:
            self.metrics["outbound_upgrade_failed"] += 1
            await _close_writer(writer)
            raise
        await self._established(conn)
        return conn

    async def _upgrade(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        initiator: bool,
        expected: PeerId | None,
    ) -> Connection:
        raw = secure.RawConn(reader, writer)
        if initiator:
            await multistream.select_dialer(raw, [secure.PROTOCOL_ID])
        else:
            await multistream.select_listener(raw, {secure.PROTOCOL_ID})
        sconn = await secure.handshake(
            raw,
            initiator=initiator,
            identity=self.identity,
            static_private=self._static,
            random_bytes=self.random_bytes,
            expected_peer=expected,
        )
        if not initiator and not self.is_allowed(sconn.remote_peer):
            writer.close()
            raise PeerNotAllowed(f"peer {sconn.remote_peer} is not in the allowlist")
        if initiator:
            await multistream.select_dialer(sconn, [yamux.PROTOCOL_ID])
        else:
            await multistream.select_listener(sconn, {yamux.PROTOCOL_ID})
        session = yamux.Session(sconn, is_client=initiator)
        peer = writer.get_extra_info("peername")
        remote = f"{peer[0]}:{peer[1]}" if peer else "?"
        return Connection(
            sconn.remote_peer, session, initiator, remote, asyncio.get_running_loop().time()
        )

    async def _established(self, conn: Connection) -> None:
        self._conns.add(conn)
        conn.session._on_close = lambda _s: self._closed(conn)
        conn.session.start()
        self.metrics["connections_opened"] += 1
        task = asyncio.get_running_loop().create_task(self._accept_loop(conn))
        conn._tasks.add(task)
        task.add_done_callback(conn._tasks.discard)
        if self.on_connection is not None:
            await self.on_connection(conn)

    async def _closed(self, conn: Connection) -> None:
        self._conns.discard(conn)
        self.metrics["connections_closed"] += 1
        for task in list(conn._tasks):
            if task is not asyncio.current_task():
                task.cancel()
        if self.on_disconnect is not None:
            await self.on_disconnect(conn)

    # -- streams -------------------------------------------------------------------------------
    async def open_stream(self, conn: Connection, protocol: str) -> yamux.YamuxStream:
        stream = await conn.session.open_stream()
        try:
            await asyncio.wait_for(
                multistream.select_dialer(stream, [protocol]), self.upgrade_timeout
            )
        except BaseException:
            stream.reset()
            raise
        stream.protocol = protocol
        return stream

    async def _accept_loop(self, conn: Connection) -> None:
        while True:
            try:
                stream = await conn.session.accept_stream()
            except yamux.SessionClosed:
                return
            task = asyncio.get_running_loop().create_task(self._serve_stream(conn, stream))
            conn._tasks.add(task)
            task.add_done_callback(conn._tasks.discard)

    async def _serve_stream(self, conn: Connection, stream: yamux.YamuxStream) -> None:
        try:
            protocol = await asyncio.wait_for(
                multistream.select_listener(stream, self._handlers.keys()), self.upgrade_timeout
            )
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a failed negotiation only costs this stream
            self.metrics["stream_negotiation_failed"] += 1
            stream.reset()
            return
        stream.protocol = protocol
        try:
            await self._handlers[protocol](conn, stream)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.metrics["stream_handler_errors"] += 1
            log.exception("handler for %s failed", protocol)
            stream.reset()

    # -- shutdown ------------------------------------------------------------------------------
    @property
    def connections(self) -> list[Connection]:
        return list(self._conns)

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for task in list(self._pending):
            task.cancel()
        for conn in list(self._conns):
            await conn.close()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()


async def _close_writer(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, ConnectionError, asyncio.CancelledError):
        await writer.wait_closed()
