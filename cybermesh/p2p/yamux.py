"""yamux 1.0.0 sessions and streams on asyncio (hashicorp/yamux `spec.md`).

Rules:
1. Each stream starts with a 256 KiB receive window on both sides. A sender never sends more
   DATA than the peer's window; it waits for WINDOW_UPDATE (backpressure per stream: a stream
   whose reader stopped blocks only its own writers).
2. The receiver grants the consumed bytes back with WINDOW_UPDATE once at least half its
   window has been consumed by the application (not when it merely arrived), so memory per
   stream is bounded by the window. Auto-tuning: when a grant finds the buffer empty (the
   reader keeps up), the window doubles, up to `max_window` (default 4 MiB); a reader that
   stops never grows its window.
3. DATA beyond the granted window, a SYN for an id of our own parity or an id in use, or a bad
   header is a protocol error: we send GO_AWAY(1) and close the session.
4. Opening sends WINDOW_UPDATE|SYN (delta 0); accepting answers WINDOW_UPDATE|ACK at once.
   More than `accept_backlog` streams waiting for accept, or more than
   `max_inbound_streams` open streams opened by the remote, are refused with RST.
5. FIN half-closes one direction; a stream is forgotten when both directions are closed or
   on RST (either side). Reads after a remote FIN drain the buffer, then return b"".
6. PING SYN is answered with PING ACK carrying the same value; GO_AWAY stops new streams
   from the remote; closing the session sends GO_AWAY(0) and fails all open streams.
7. DATA frames carry at most MAX_FRAME_PAYLOAD bytes, so that a header plus payload fits one
   Noise transport message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Final

from cybermesh.p2p.secure import MAX_PLAINTEXT, SecureConn
from cybermesh.p2p.yamux_frame import (
    FLAG_ACK,
    FLAG_FIN,
    FLAG_RST,
    FLAG_SYN,
    GO_AWAY_NORMAL,
    GO_AWAY_PROTOCOL_ERROR,
    HEADER,
    HEADER_LEN,
    INITIAL_WINDOW,
    TYPE_DATA,
    TYPE_GO_AWAY,
    TYPE_PING,
    TYPE_WINDOW_UPDATE,
    YamuxProtocolError,
    decode_header,
    encode_header,
    is_local_id,
)

PROTOCOL_ID: Final = "/yamux/1.0.0"
MAX_FRAME_PAYLOAD: Final = MAX_PLAINTEXT - HEADER_LEN


class StreamReset(ConnectionError):
    """The stream was reset (by either side) or its session closed."""


class StreamClosed(ConnectionError):
    """Write after our own FIN."""


class SessionClosed(ConnectionError):
    """The yamux session is closed or the remote sent GO_AWAY."""


class YamuxStream:
    """One multiplexed stream; the ByteStream for multistream-select and frames."""

    def __init__(self, session: Session, stream_id: int) -> None:
        self.session = session
        self.id = stream_id
        self.protocol = ""
        self.send_window = INITIAL_WINDOW
        self.recv_window = INITIAL_WINDOW
        """Bytes the remote may still send before our next WINDOW_UPDATE."""
        self.window = INITIAL_WINDOW
        """Our receive window: recv_window + buffered + consumed-not-granted == window."""
        self._consumed = 0
        self._buf = bytearray()
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self._write_lock = asyncio.Lock()
        self.local_closed = False
        self.remote_closed = False
        self.reset_ = False
        self.max_buffered = 0
        """Largest receive buffer seen (bounded by the window, rule 2); for tests and metrics."""
        self.window_waits = 0
        """Times a write waited for window credit (rule 1)."""

    # -- reading ---------------------------------------------------------------------------
    async def read(self, n: int = 65536) -> bytes:
        """Up to `n` buffered bytes (waits for at least one); b"" after the remote's FIN."""
        while not self._buf:
            if self.reset_:
                raise StreamReset(f"stream {self.id} reset")
            if self.remote_closed:
                return b""
            self._readable.clear()
            await self._readable.wait()
        out = bytes(self._buf[:n])
        del self._buf[:n]
        self._consumed_bytes(len(out))
        return out

    async def readexactly(self, n: int) -> bytes:
        """Exactly `n` bytes; consumes (and re-grants window) as data arrives, so `n` may
        exceed the window. IncompleteReadError if the remote closes first."""
        buf = self._buf
        if len(buf) >= n:  # fast path
            out = bytes(buf[:n])
            del buf[:n]
            self._consumed_bytes(n)
            return out
        parts = bytearray()
        while len(parts) < n:
            if buf:
                take = min(n - len(parts), len(buf))
                parts += buf[:take]
                del buf[:take]
                self._consumed_bytes(take)
                continue
            if self.reset_:
                raise StreamReset(f"stream {self.id} reset")
            if self.remote_closed:
                raise asyncio.IncompleteReadError(bytes(parts), n)
            self._readable.clear()
            await self._readable.wait()
        return bytes(parts)

    def _consumed_bytes(self, n: int) -> None:
        self._consumed += n
        if self._consumed >= self.window // 2 and not (self.reset_ or self.remote_closed):
            delta, self._consumed = self._consumed, 0
            max_window = self.session.max_window
            if not self._buf and self.window < max_window:
                grow = min(self.window, max_window - self.window)
                self.window += grow
                delta += grow
            self.recv_window += delta
            self.session._send(encode_header(TYPE_WINDOW_UPDATE, 0, self.id, delta))

    # -- writing ---------------------------------------------------------------------------
    async def write(self, data: bytes) -> None:
        """Send `data`, waiting for window credit and for the socket to drain (rule 1).

        All frames that the current window allows are encrypted and handed to the socket
        together (one system call per window's worth, not per frame)."""
        async with self._write_lock:
            view = memoryview(data)
            sent = 0
            total = len(data)
            while True:
                if self.reset_:
                    raise StreamReset(f"stream {self.id} reset")
                if self.local_closed:
                    raise StreamClosed(f"stream {self.id} closed for writing")
                if self.send_window == 0 and total:
                    self.window_waits += 1
                    self._writable.clear()
                    await self._writable.wait()
                    continue
                frames = []
                while True:
                    n = min(total - sent, self.send_window, MAX_FRAME_PAYLOAD)
                    frames.append(encode_header(TYPE_DATA, 0, self.id, n) + view[sent : sent + n])
                    self.send_window -= n
                    sent += n
                    if sent == total or self.send_window == 0:
                        break
                self.session._send_many(frames)
                await self.session.drain()
                if sent == total:
                    return

    async def close(self) -> None:
        """Half-close: send FIN; reading continues until the remote's FIN (rule 5)."""
        if self.local_closed or self.reset_:
            return
        self.local_closed = True
        self.session._send(encode_header(TYPE_WINDOW_UPDATE, FLAG_FIN, self.id, 0))
        self.session._maybe_forget(self)
        await self.session.drain()

    def reset(self) -> None:
        if self.reset_:
            return
        self._on_reset()
        self.session._send(encode_header(TYPE_WINDOW_UPDATE, FLAG_RST, self.id, 0))

    # -- events from the session ---------------------------------------------------------------
    def _on_data(self, data: bytes) -> None:
        self._buf += data
        if len(self._buf) > self.max_buffered:
            self.max_buffered = len(self._buf)
        self._readable.set()

    def _on_window(self, delta: int) -> None:
        self.send_window += delta
        self._writable.set()

    def _on_fin(self) -> None:
        self.remote_closed = True
        self._readable.set()
        self.session._maybe_forget(self)

    def _on_reset(self) -> None:
        self.reset_ = True
        self._readable.set()
        self._writable.set()
        self.session._forget(self)


class Session:
    """A yamux session over a SecureConn; call `start()` to run the frame reader."""

    def __init__(
        self,
        conn: SecureConn,
        *,
        is_client: bool,
        accept_backlog: int = 256,
        max_window: int = 4 * 1024 * 1024,
        max_inbound_streams: int = 512,
        on_close: Callable[[Session], Awaitable[None] | None] | None = None,
    ) -> None:
        self.conn = conn
        self.is_client = is_client
        self.max_window = max(INITIAL_WINDOW, max_window)
        self.max_inbound_streams = max_inbound_streams
        self._inbound_open = 0
        self.refused_streams = 0
        self.streams: dict[int, YamuxStream] = {}
        self._next_id = 1 if is_client else 2
        self._accept: asyncio.Queue[YamuxStream] = asyncio.Queue(accept_backlog)
        self._pings: dict[int, asyncio.Future[None]] = {}
        self._ping_id = 0
        self.remote_goaway = False
        self.closed = asyncio.Event()
        self.close_reason: BaseException | None = None
        self._reader: asyncio.Task[None] | None = None
        self._on_close = on_close

    def start(self) -> None:
        self._reader = asyncio.get_running_loop().create_task(self._read_loop())

    @property
    def is_closed(self) -> bool:
        return self.closed.is_set()

    def _send(self, frame: bytes) -> None:
        if not self.closed.is_set():
            self.conn.send(frame)

    def _send_many(self, frames: list[bytes]) -> None:
        if not self.closed.is_set():
            self.conn.send_many(frames)

    async def drain(self) -> None:
        if self.closed.is_set():
            raise SessionClosed("session closed")
        await self.conn.drain()

    # -- streams -----------------------------------------------------------------------------
    async def open_stream(self) -> YamuxStream:
        if self.closed.is_set() or self.remote_goaway:
            raise SessionClosed("cannot open a stream: session closed or remote went away")
        stream = YamuxStream(self, self._next_id)
        self._next_id += 2
        self.streams[stream.id] = stream
        self._send(encode_header(TYPE_WINDOW_UPDATE, FLAG_SYN, stream.id, 0))
        await self.drain()
        return stream

    async def accept_stream(self) -> YamuxStream:
        get = asyncio.ensure_future(self._accept.get())
        closed = asyncio.ensure_future(self.closed.wait())
        try:
            await asyncio.wait((get, closed), return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
            if not get.done():
                get.cancel()
        if get.done() and not get.cancelled():
            return get.result()
        raise SessionClosed("session closed")

    def _forget(self, stream: YamuxStream) -> None:
        if self.streams.pop(stream.id, None) is not None and not is_local_id(
            stream.id, self.is_client
        ):
            self._inbound_open -= 1

    def _maybe_forget(self, stream: YamuxStream) -> None:
        if stream.local_closed and stream.remote_closed:
            self._forget(stream)

    # -- ping / close --------------------------------------------------------------------------
    async def ping(self) -> None:
        """Round-trip a PING (the caller measures the time)."""
        self._ping_id = (self._ping_id + 1) & 0xFFFFFFFF
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pings[self._ping_id] = fut
        ping_id = self._ping_id
        try:
            self._send(encode_header(TYPE_PING, FLAG_SYN, 0, ping_id))
            await self.drain()
            await fut
        finally:
            self._pings.pop(ping_id, None)

    async def close(self, code: int = GO_AWAY_NORMAL) -> None:
        if self.closed.is_set():
            return
        self._send(encode_header(TYPE_GO_AWAY, 0, 0, code))
        await self._shutdown(None)

    async def _shutdown(self, reason: BaseException | None) -> None:
        if self.closed.is_set():
            return
        self.close_reason = reason
        self.closed.set()
        for stream in list(self.streams.values()):
            stream._on_reset()
        for fut in self._pings.values():
            if not fut.done():
                fut.set_exception(SessionClosed("session closed"))
        self.conn.close()
        if self._reader is not None and self._reader is not asyncio.current_task():
            self._reader.cancel()
        await self.conn.wait_closed()
        if self._on_close is not None:
            result = self._on_close(self)
            if result is not None:
                await result

    # -- frame reader --------------------------------------------------------------------------
    async def _read_loop(self) -> None:
        reason: BaseException | None = None
        try:
            while True:
                await self._handle_frame()
        except YamuxProtocolError as exc:
            reason = exc
            self._send(encode_header(TYPE_GO_AWAY, 0, 0, GO_AWAY_PROTOCOL_ERROR))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any read failure ends the session
            reason = exc
        await self._shutdown(reason)

    async def _handle_frame(self) -> None:
        conn = self.conn
        hdr = decode_header(await conn.readexactly(HEADER_LEN))
        typ, flags, sid, length = hdr.type, hdr.flags, hdr.stream_id, hdr.length
        if typ in (TYPE_DATA, TYPE_WINDOW_UPDATE):
            if typ == TYPE_DATA and length > self.max_window:
                raise YamuxProtocolError(f"DATA frame of {length} bytes exceeds any window")
            body = await conn.readexactly(length) if typ == TYPE_DATA and length else b""
            stream = self.streams.get(sid)
            if flags & FLAG_SYN:
                stream = self._on_syn(sid, stream)
            if stream is None:
                return  # a late frame for a forgotten (closed or reset) stream
            if typ == TYPE_WINDOW_UPDATE:
                if length:
                    stream._on_window(length)
            elif body:
                if len(body) > stream.recv_window:
                    raise YamuxProtocolError(
                        f"stream {sid}: {len(body)} bytes beyond window {stream.recv_window}"
                    )
                stream.recv_window -= len(body)
                stream._on_data(body)
            if flags & FLAG_FIN:
                stream._on_fin()
            if flags & FLAG_RST:
                stream._on_reset()
        elif typ == TYPE_PING:
            if flags & FLAG_SYN:
                self._send(encode_header(TYPE_PING, FLAG_ACK, 0, length))
            elif flags & FLAG_ACK:
                fut = self._pings.pop(length, None)
                if fut is not None and not fut.done():
                    fut.set_result(None)
        else:  # GO_AWAY
            self.remote_goaway = True
            if length != GO_AWAY_NORMAL:
                raise ConnectionResetError(f"remote sent GO_AWAY with error code {length}")

    def _on_syn(self, sid: int, existing: YamuxStream | None) -> YamuxStream | None:
        if existing is not None or is_local_id(sid, self.is_client) or sid == 0:
            raise YamuxProtocolError(f"SYN for stream id {sid} (in use or of our parity)")
        stream = YamuxStream(self, sid)
        if (
            self.remote_goaway
            or self._accept.full()
            or self._inbound_open >= self.max_inbound_streams
        ):
            self.refused_streams += 1
            self._send(encode_header(TYPE_WINDOW_UPDATE, FLAG_RST, sid, 0))
            return None
        self._inbound_open += 1
        self.streams[sid] = stream
        self._send(encode_header(TYPE_WINDOW_UPDATE, FLAG_ACK, sid, 0))
        self._accept.put_nowait(stream)
        return stream


__all__ = [
    "HEADER",
    "PROTOCOL_ID",
    "Session",
    "SessionClosed",
    "StreamClosed",
    "StreamReset",
    "YamuxStream",
]
