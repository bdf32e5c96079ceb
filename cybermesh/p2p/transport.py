"""The transport the consensus driver uses: framed messages between genesis validators.

    t = Transport.from_genesis(genesis, node_key, TransportConfig())
    await t.start("/ip4/0.0.0.0/tcp/7100")
    await t.send(peer, CONSENSUS, payload)              # one-way, never blocks on the network
    reply = await t.request(peer, SYNC, query, timeout=5.0)
    t.set_request_handler(SYNC, serve)                  # async (peer, bytes) -> bytes
    msg = await t.recv()                                # Message(peer, protocol, data)
    ev = await t.events.get()                           # PeerEvent(peer, connected=True|False)

Rules:
1. Only allowlisted peers (genesis validators' node keys) are kept: an inbound connection from
   any other peer id is closed right after the Noise handshake (Host rule 3), a dialed peer
   must authenticate as the id we dialed.
2. One-way protocols use one long-lived outbound stream per (peer, protocol); each message is
   one frame (framing rules) no larger than the protocol's `max_frame`.
3. Outbound queues are bounded per (peer, protocol) at `outbound_queue` messages and DROP THE
   OLDEST message when full (metric `outbound_dropped`): a slow or absent peer cannot make us
   buffer without limit, and consensus messages are superseded by newer rounds anyway.
   Messages queued while a peer is disconnected are sent when it reconnects.
4. The inbound queue is bounded at `inbound_queue` messages and BLOCKS when full: the stream
   readers stop reading, yamux windows close, and the senders' own bounded queues drop their
   oldest messages (end-to-end backpressure; metric `inbound_queue_full` counts the stalls).
5. Each peer has an inbound token bucket (`rate_per_s`, `burst`) over all its messages and
   requests; over-rate messages are dropped (metric `rate_limited`). An optional
   `inbound_filter(message) -> bool` hook lets the consensus layer drop stale or replayed
   messages before they are queued (metric `filtered`).
6. Request/response protocols open one stream per request: request frame, FIN, response
   frame. A request without a handler, an oversize frame or a handler error resets the stream.
7. Each peer with a known address is dialed and redialed with jittered exponential backoff
   (limits.backoff_delay; randomness and time come from this adapter). To avoid simultaneous
   dials, the peer with the larger id waits `dial_grace` seconds before its first dial. If two
   connections to one peer exist anyway, both sides keep the one dialed by the smaller peer id
   (the newest on a tie) and close the other.
   The larger id also waits `dial_grace` before redialing a lost connection (both sides
   usually see the loss at once; only the smaller id should redial).
8. Every `keepalive_interval` seconds each connection is PINGed (yamux); no answer within
   `keepalive_timeout` closes it (metric `keepalive_timeouts`), and rule 7 redials.
9. When rule 7 would keep the old connection against a new one, the old one must first
   answer a PING within `keepalive_timeout`; if it does not, the peer has lost it without our
   noticing and the new one replaces it (metric `stale_connections_replaced`).
10. A writer takes frames from an outbox only once its stream is open on the peer's current
   connection: frames queued while a connection is closed or replaced go out on the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import nacl.signing

from cybermesh.config import P2PSettings
from cybermesh.genesis import Genesis
from cybermesh.p2p.framing import FrameTooLarge, encode_frame, read_frame
from cybermesh.p2p.host import Connection, Host
from cybermesh.p2p.limits import TokenBucket, backoff_delay
from cybermesh.p2p.multiaddr import Multiaddr, MultiaddrError
from cybermesh.p2p.peer_id import PeerId
from cybermesh.p2p.yamux import StreamReset, YamuxStream

log = logging.getLogger(__name__)

CONSENSUS = "/cybermesh/consensus/1.0.0"
SYNC = "/cybermesh/sync/1.0.0"

RequestHandler = Callable[[PeerId, bytes], Awaitable[bytes]]


class UnknownPeer(KeyError):
    """The peer id is not in the allowlist."""


class NotConnected(ConnectionError):
    """No connection to the peer right now (request/response needs one)."""


class UnknownProtocol(KeyError):
    """The protocol id is not configured on this transport."""


@dataclass(frozen=True)
class ProtocolSpec:
    id: str
    max_frame: int
    """Largest frame payload accepted or sent, in bytes."""
    request_response: bool = False
    """True: one stream per request (rule 6); False: one-way messages (rule 2)."""


@dataclass(frozen=True)
class TransportConfig:
    protocols: tuple[ProtocolSpec, ...] = (
        ProtocolSpec(CONSENSUS, 4 * 1024 * 1024),
        ProtocolSpec(SYNC, 32 * 1024 * 1024, request_response=True),
    )
    inbound_queue: int = 10_000
    """Messages waiting for `recv()` (rule 4: blocks when full)."""
    outbound_queue: int = 1_000
    """Messages per (peer, protocol) waiting to be sent (rule 3: drop-oldest)."""
    rate_per_s: float = 5_000.0
    """Inbound messages per second per peer (token refill)."""
    burst: float = 10_000.0
    """Inbound token-bucket capacity per peer."""
    backoff_base: float = 0.2
    backoff_cap: float = 10.0
    dial_grace: float = 1.0
    """Seconds the larger peer id waits before its first dial (rule 7)."""
    batch_bytes: int = 256 * 1024
    """Queued frames are written together up to this many bytes per write."""
    upgrade_timeout: float = 10.0
    keepalive_interval: float = 15.0
    """Seconds between yamux PINGs on each connection (0 disables)."""
    keepalive_timeout: float = 10.0
    """A PING unanswered this long closes the connection (then it is redialed)."""

    @classmethod
    def from_settings(cls, p2p: P2PSettings) -> TransportConfig:
        """The config from the validated `[p2p]` settings section."""
        return cls(
            protocols=(
                ProtocolSpec(CONSENSUS, p2p.max_frame_consensus),
                ProtocolSpec(SYNC, p2p.max_frame_sync, request_response=True),
            ),
            inbound_queue=p2p.inbound_queue,
            outbound_queue=p2p.outbound_queue,
            rate_per_s=float(p2p.rate_per_s),
            burst=float(p2p.burst),
            backoff_base=p2p.backoff_base_ms / 1000,
            backoff_cap=p2p.backoff_cap_ms / 1000,
            dial_grace=p2p.dial_grace_ms / 1000,
        )


@dataclass(frozen=True)
class Message:
    peer: PeerId
    protocol: str
    data: bytes


@dataclass(frozen=True)
class PeerEvent:
    peer: PeerId
    connected: bool


@dataclass(eq=False)
class _Peer:
    id: PeerId
    addr: Multiaddr | None
    bucket: TokenBucket
    conn: Connection | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    outboxes: dict[str, deque[bytes]] = field(default_factory=dict)
    wakeups: dict[str, asyncio.Event] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None


class Transport:
    def __init__(
        self,
        identity: nacl.signing.SigningKey,
        allowlist: Mapping[PeerId, Multiaddr | None],
        config: TransportConfig | None = None,
        *,
        rng: random.Random | None = None,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.config = config or TransportConfig()
        self._specs = {spec.id: spec for spec in self.config.protocols}
        self._rng = rng or random.Random(random_bytes(16))
        self.host = Host(
            identity,
            is_allowed=lambda p: p in self._peers,
            random_bytes=random_bytes,
            upgrade_timeout=self.config.upgrade_timeout,
        )
        self.peer_id = self.host.peer_id
        self.metrics = self.host.metrics
        self._peers: dict[PeerId, _Peer] = {}
        for pid, addr in sorted(allowlist.items()):
            if pid != self.peer_id:
                self._add_peer(pid, addr)
        self.inbound: asyncio.Queue[Message] = asyncio.Queue(self.config.inbound_queue)
        self.events: asyncio.Queue[PeerEvent] = asyncio.Queue(1024)
        self.inbound_filter: Callable[[Message], bool] | None = None
        self._handlers: dict[str, RequestHandler] = {}
        self._checks: set[asyncio.Task[None]] = set()
        self._running = False
        self.listen_addr: Multiaddr | None = None
        self.host.on_connection = self._on_connection
        self.host.on_disconnect = self._on_disconnect
        for spec in self.config.protocols:
            serve = self._serve_request if spec.request_response else self._serve_messages
            self.host.set_stream_handler(spec.id, serve)

    @classmethod
    def from_genesis(
        cls,
        genesis: Genesis,
        node_key: nacl.signing.SigningKey,
        config: TransportConfig | None = None,
        **kwargs: object,
    ) -> Transport:
        """Allowlist = every genesis validator's node key; addresses from genesis."""
        allow: dict[PeerId, Multiaddr | None] = {}
        for v in genesis.validators:
            pid = PeerId.from_ed25519(v.node_pubkey)
            try:
                allow[pid] = Multiaddr.parse(v.address)
            except MultiaddrError:
                allow[pid] = None
        return cls(node_key, allow, config, **kwargs)  # type: ignore[arg-type]

    def _add_peer(self, pid: PeerId, addr: Multiaddr | None) -> None:
        peer = _Peer(pid, addr, TokenBucket(self.config.rate_per_s, self.config.burst))
        for spec in self.config.protocols:
            if not spec.request_response:
                peer.outboxes[spec.id] = deque(maxlen=self.config.outbound_queue)
                peer.wakeups[spec.id] = asyncio.Event()
        self._peers[pid] = peer

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self, listen: str | Multiaddr | None = None) -> Multiaddr | None:
        """Listen (if `listen` is given) and start dialing the allowlisted peers."""
        self._running = True
        if listen is not None:
            addr = Multiaddr.parse(listen) if isinstance(listen, str) else listen
            self.listen_addr = await self.host.listen(addr.host, addr.port)
        loop = asyncio.get_running_loop()
        for peer in self._peers.values():
            peer.task = loop.create_task(self._peer_loop(peer))
        return self.listen_addr

    async def stop(self) -> None:
        self._running = False
        tasks = [p.task for p in self._peers.values() if p.task is not None]
        tasks += self._checks
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.host.close()

    # -- public API ----------------------------------------------------------------------------
    @property
    def peers(self) -> list[PeerId]:
        return sorted(self._peers)

    def is_connected(self, peer: PeerId) -> bool:
        p = self._peers.get(peer)
        return p is not None and p.conn is not None and not p.conn.is_closed

    def connected_peers(self) -> list[PeerId]:
        return [pid for pid in sorted(self._peers) if self.is_connected(pid)]

    def add_peer(self, peer: PeerId, addr: Multiaddr | None = None) -> None:
        """Extend the allowlist at run time (tests, operator tools)."""
        if peer in self._peers or peer == self.peer_id:
            return
        self._add_peer(peer, addr)
        if self._running:
            p = self._peers[peer]
            p.task = asyncio.get_running_loop().create_task(self._peer_loop(p))

    async def send(self, peer: PeerId, protocol: str, data: bytes) -> None:
        """Queue one message (rules 2, 3); returns at once."""
        p = self._peer(peer)
        spec = self._spec(protocol)
        if spec.request_response:
            raise UnknownProtocol(f"{protocol} is request/response: use request()")
        frame = encode_frame(data, spec.max_frame, protocol)
        box = p.outboxes[protocol]
        if len(box) == box.maxlen:
            self.metrics["outbound_dropped"] += 1
        box.append(frame)
        p.wakeups[protocol].set()

    async def broadcast(self, protocol: str, data: bytes) -> None:
        for pid in sorted(self._peers):
            await self.send(pid, protocol, data)

    async def recv(self) -> Message:
        return await self.inbound.get()

    def set_request_handler(self, protocol: str, handler: RequestHandler) -> None:
        if not self._spec(protocol).request_response:
            raise UnknownProtocol(f"{protocol} is not a request/response protocol")
        self._handlers[protocol] = handler

    async def request(
        self,
        peer: PeerId,
        protocol: str,
        data: bytes,
        timeout: float,  # noqa: ASYNC109
    ) -> bytes:
        """One request and its response (rule 6); TimeoutError after `timeout` seconds."""
        p = self._peer(peer)
        spec = self._spec(protocol)
        frame = encode_frame(data, spec.max_frame, protocol)
        conn = p.conn
        if conn is None or conn.is_closed:
            raise NotConnected(f"not connected to {peer}")
        stream: YamuxStream | None = None
        try:
            async with asyncio.timeout(timeout):
                stream = await self.host.open_stream(conn, protocol)
                await stream.write(frame)
                await stream.close()
                reply = await read_frame(stream, spec.max_frame, protocol)
        except BaseException:
            if stream is not None:
                stream.reset()
            self.metrics["requests_failed"] += 1
            raise
        self.metrics["requests_ok"] += 1
        return reply

    def _peer(self, peer: PeerId) -> _Peer:
        try:
            return self._peers[peer]
        except KeyError:
            raise UnknownPeer(f"{peer} is not an allowlisted peer") from None

    def _spec(self, protocol: str) -> ProtocolSpec:
        try:
            return self._specs[protocol]
        except KeyError:
            raise UnknownProtocol(f"protocol {protocol} is not configured") from None

    # -- connections ---------------------------------------------------------------------------
    async def _on_connection(self, conn: Connection) -> None:
        peer = self._peers.get(conn.peer_id)
        if peer is None:  # dialed by hand, or allowlist changed: rule 1
            self.metrics["connections_not_allowed"] += 1
            await conn.close()
            return
        old = peer.conn
        if old is not None and not old.is_closed:
            self.metrics["duplicate_connections"] += 1
            if not self._prefer(conn, old):
                task = asyncio.get_running_loop().create_task(self._check_old(peer, old, conn))
                self._checks.add(task)
                task.add_done_callback(self._checks.discard)
                return
            peer.conn = conn
            await old.close()
        else:
            peer.conn = conn
            self._event(PeerEvent(peer.id, True))
        peer.changed.set()

    async def _check_old(self, peer: _Peer, old: Connection, new: Connection) -> None:
        """Rule 9: rule 7 keeps `old`, but `new` was dialed while `old` is open: either both
        sides dialed at once (then `old` is alive) or the peer lost `old` without our noticing
        (no FIN reached us) and redialed. `old` is kept only if it answers a PING within
        `keepalive_timeout`; otherwise `new` replaces it. Meanwhile both stay open, so what the
        peer sends on `new` is received."""
        try:
            await asyncio.wait_for(old.session.ping(), self.config.keepalive_timeout)
        except (TimeoutError, ConnectionError):
            pass
        else:
            await new.close()  # both sides hold both connections: rule 7 decides
            return
        self.metrics["stale_connections_replaced"] += 1
        if new.is_closed:
            await old.close()
            return
        current = peer.conn
        peer.conn = new
        if current is not None and not current.is_closed:
            await current.close()
        else:
            self._event(PeerEvent(peer.id, True))
        peer.changed.set()

    def _prefer(self, new: Connection, old: Connection) -> bool:
        smaller = min(self.peer_id, new.peer_id)

        def dialer(c: Connection) -> PeerId:
            return self.peer_id if c.initiator else c.peer_id

        new_ok, old_ok = dialer(new) == smaller, dialer(old) == smaller
        return new_ok or not old_ok

    async def _on_disconnect(self, conn: Connection) -> None:
        peer = self._peers.get(conn.peer_id)
        if peer is not None and peer.conn is conn:
            peer.conn = None
            peer.changed.set()
            self._event(PeerEvent(peer.id, False))

    def _event(self, ev: PeerEvent) -> None:
        if self.events.full():
            self.events.get_nowait()
            self.metrics["events_dropped"] += 1
        self.events.put_nowait(ev)

    async def _peer_loop(self, peer: _Peer) -> None:
        attempt = 0
        await self._dial_grace(peer)
        while self._running:
            conn = peer.conn
            if conn is None or conn.is_closed:
                if peer.addr is None:
                    await self._wait_changed(peer, None)
                    continue
                try:
                    await self.host.dial(peer.addr, peer.id)
                    attempt = 0
                    self.metrics["dials_ok"] += 1
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - any dial failure is retried
                    self.metrics["dials_failed"] += 1
                    delay = backoff_delay(
                        attempt,
                        self.config.backoff_base,
                        self.config.backoff_cap,
                        self._rng.random(),
                    )
                    attempt += 1
                    log.debug("dial %s failed (%r); retry in %.2fs", peer.id, exc, delay)
                    await self._wait_changed(peer, delay)
                continue
            await self._run_writers(peer, conn)
            await self._dial_grace(peer)

    async def _dial_grace(self, peer: _Peer) -> None:
        """Rule 7: the larger id lets the smaller one dial first, at start and after every lost
        connection. Both sides see a closed connection at about the same time; if both redialed
        at once, duplicate resolution would close one of the two new connections, possibly
        while frames were on their way over it."""
        if peer.addr is None or self.peer_id < peer.id:
            return
        if peer.conn is None or peer.conn.is_closed:
            await self._wait_changed(peer, self.config.dial_grace)

    async def _wait_changed(self, peer: _Peer, seconds: float | None) -> None:
        peer.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(peer.changed.wait(), seconds)

    async def _run_writers(self, peer: _Peer, conn: Connection) -> None:
        loop = asyncio.get_running_loop()
        writers = [
            loop.create_task(self._writer(peer, conn, proto)) for proto in sorted(peer.outboxes)
        ]
        writers.append(loop.create_task(self._keepalive(conn)))
        try:
            while peer.conn is conn and not conn.is_closed:
                await self._wait_changed(peer, None)
        finally:
            for w in writers:
                w.cancel()
            for w in writers:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await w

    async def _keepalive(self, conn: Connection) -> None:
        """Rule 8: detect a silent peer (no FIN, no RST) and drop its connection."""
        interval = self.config.keepalive_interval
        if interval <= 0:
            return
        while not conn.is_closed:
            await asyncio.sleep(interval)
            try:
                await asyncio.wait_for(conn.session.ping(), self.config.keepalive_timeout)
            except (TimeoutError, ConnectionError):
                self.metrics["keepalive_timeouts"] += 1
                await conn.close()
                return
            self.metrics["pings_ok"] += 1

    async def _writer(self, peer: _Peer, conn: Connection, protocol: str) -> None:
        """Drain one outbox onto one stream of `conn`.

        Frames leave the outbox only once a stream on `conn` is open and `conn` is still the
        peer's connection: if `conn` is closed or replaced (duplicate resolution, keepalive)
        while the stream is being opened, the frames stay queued for the next connection.
        A batch whose write fails is lost (metric `outbound_lost`; its bytes may or may not
        have reached the peer); a reset stream is reopened for the next batch, a closed
        connection ends the writer."""
        box, wake = peer.outboxes[protocol], peer.wakeups[protocol]
        stream: YamuxStream | None = None

        def current() -> bool:
            return peer.conn is conn and not conn.is_closed

        while True:
            while not box:
                wake.clear()
                await wake.wait()
            if not current():
                return
            if stream is None or stream.reset_:
                try:
                    stream = await self.host.open_stream(conn, protocol)
                except (ConnectionError, TimeoutError, asyncio.IncompleteReadError) as exc:
                    stream = None
                    if not current():
                        return  # the frames stay queued for the next connection
                    # refused by a live remote: drop a batch so that a peer that always
                    # refuses cannot keep us retrying the same frames
                    self.metrics["outbound_lost"] += len(self._take_batch(box))
                    if isinstance(exc, StreamReset):
                        self.metrics["outbound_stream_resets"] += 1
                        continue
                    log.debug("writer %s %s: opening a stream failed: %r", peer.id, protocol, exc)
                    await conn.close()
                    return
                if not current():
                    stream.reset()
                    return
            batch = self._take_batch(box)
            try:
                await stream.write(batch[0] if len(batch) == 1 else b"".join(batch))
            except StreamReset:
                self.metrics["outbound_stream_resets"] += 1
                self.metrics["outbound_lost"] += len(batch)
                stream = None
                if conn.is_closed:
                    return
                continue
            except (ConnectionError, TimeoutError, asyncio.IncompleteReadError) as exc:
                self.metrics["outbound_lost"] += len(batch)
                log.debug("writer %s %s ended: %r", peer.id, protocol, exc)
                await conn.close()
                return
            self.metrics["messages_sent"] += len(batch)

    def _take_batch(self, box: deque[bytes]) -> list[bytes]:
        """Pop queued frames (at least one) up to `batch_bytes` in total."""
        batch = [box.popleft()]
        size = len(batch[0])
        while box and size + len(box[0]) <= self.config.batch_bytes:
            frame = box.popleft()
            batch.append(frame)
            size += len(frame)
        return batch

    # -- inbound -------------------------------------------------------------------------------
    def _admit(self, peer: _Peer, msg: Message) -> bool:
        if not peer.bucket.try_take(asyncio.get_running_loop().time()):
            self.metrics["rate_limited"] += 1
            return False
        if self.inbound_filter is not None and not self.inbound_filter(msg):
            self.metrics["filtered"] += 1
            return False
        return True

    async def _serve_messages(self, conn: Connection, stream: YamuxStream) -> None:
        peer = self._peers.get(conn.peer_id)
        spec = self._specs[stream.protocol]
        if peer is None:
            stream.reset()
            return
        queue = self.inbound
        try:
            while True:
                data = await read_frame(stream, spec.max_frame, spec.id)
                msg = Message(peer.id, spec.id, data)
                if not self._admit(peer, msg):
                    continue
                if queue.full():
                    self.metrics["inbound_queue_full"] += 1
                    await queue.put(msg)
                else:
                    queue.put_nowait(msg)
                self.metrics["messages_received"] += 1
        except FrameTooLarge as exc:
            self.metrics["frame_too_large"] += 1
            log.warning("%s from %s", exc, peer.id)
            stream.reset()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass

    async def _serve_request(self, conn: Connection, stream: YamuxStream) -> None:
        peer = self._peers.get(conn.peer_id)
        spec = self._specs[stream.protocol]
        handler = self._handlers.get(spec.id)
        if peer is None or handler is None:
            self.metrics["requests_unhandled"] += 1
            stream.reset()
            return
        try:
            data = await read_frame(stream, spec.max_frame, spec.id)
            if not self._admit(peer, Message(peer.id, spec.id, data)):
                stream.reset()
                return
            reply = await handler(peer.id, data)
            await stream.write(encode_frame(reply, spec.max_frame, spec.id))
            await stream.close()
            self.metrics["requests_served"] += 1
        except FrameTooLarge as exc:
            self.metrics["frame_too_large"] += 1
            log.warning("%s from %s", exc, peer.id)
            stream.reset()
        except (ConnectionError, asyncio.IncompleteReadError):
            stream.reset()
        except Exception:
            self.metrics["request_handler_errors"] += 1
            log.exception("request handler for %s failed", spec.id)
            stream.reset()
