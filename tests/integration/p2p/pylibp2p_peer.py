"""A py-libp2p (trio) host used as the interop partner of cybermesh.p2p in tests and bench.

Run as a subprocess: `python pylibp2p_peer.py MODE --seed HEX [...]`. It prints one JSON object
per line on stdout: first {"event": "ready", "peer_id", "addr"}, then results.

Modes:
  listen      send every length-prefixed frame on PROTOCOL back (--reply same: on the same
              stream; --reply new: on a stream this host opens to the sender)
  dial        dial --target, open a stream on PROTOCOL, send frames of --sizes, check that
              they come back (on the same stream, or on streams the target opens to us)
  bench       dial --target (a listener with --reply same), then: RTT ping-pong of
              --rtt-count 200-byte frames, --rate-count pipelined 200-byte frames, and
              --tput-count pipelined 1 MiB frames; prints the figures
Options: --security noise|plaintext (plaintext = a peer that speaks nothing else).
Frames are `uvarint(len) || payload`, the cybermesh frame format.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time

import multiaddr
import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.custom_types import TProtocol
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.security.insecure.transport import PLAINTEXT_PROTOCOL_ID, InsecureTransport

PROTOCOL = TProtocol("/cybermesh/consensus/1.0.0")


def emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def uvarint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


class Reader:
    def __init__(self, stream) -> None:
        self.stream = stream
        self.buf = bytearray()

    async def exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = await self.stream.read(max(65536, n - len(self.buf)))
            if not chunk:
                raise EOFError(f"stream ended with {len(self.buf)}/{n} bytes")
            self.buf += chunk
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    async def frame(self) -> bytes:
        n = shift = 0
        while True:
            b = (await self.exactly(1))[0]
            n |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                break
        return await self.exactly(n)


def payload(size: int, i: int) -> bytes:
    seed = hashlib.sha256(f"{size}/{i}".encode()).digest()
    return (seed * (size // 32 + 1))[:size]


async def echo_same(stream) -> None:
    reader = Reader(stream)
    try:
        while True:
            data = await reader.frame()
            await stream.write(uvarint(len(data)) + data)
    except Exception:  # noqa: BLE001 - the stream ended
        pass


class Peer:
    """Stream handling for the modes; `reply` = same (echo on the stream) or new (send back
    on a stream we open to the sender, the cybermesh Transport model)."""

    def __init__(self, host, reply: str, collect: bool) -> None:
        self.host = host
        self.reply = reply
        self.collect = collect
        self.send_ch, self.recv_ch = trio.open_memory_channel(1024)
        self.out_streams: dict = {}

    async def handler(self, stream) -> None:
        if self.reply == "same" and not self.collect:
            await echo_same(stream)
            return
        reader = Reader(stream)
        peer = stream.muxed_conn.peer_id
        try:
            while True:
                data = await reader.frame()
                if self.collect:
                    await self.send_ch.send(data)
                else:
                    await self.send_back(peer, data)
        except Exception:  # noqa: BLE001 - the stream ended
            pass

    async def send_back(self, peer, data: bytes) -> None:
        out = self.out_streams.get(peer)
        if out is None:
            out = self.out_streams[peer] = await self.host.new_stream(peer, [PROTOCOL])
        await out.write(uvarint(len(data)) + data)


async def run_bench(stream, args) -> None:
    reader = Reader(stream)
    msg = payload(200, 0)
    frame = uvarint(len(msg)) + msg
    rtts = []
    for _ in range(args.rtt_count):
        t0 = time.perf_counter()
        await stream.write(frame)
        await reader.frame()
        rtts.append(time.perf_counter() - t0)

    async def write_all(frames_out: bytes, count: int) -> None:
        for _ in range(count):
            await stream.write(frames_out)

    t0 = time.perf_counter()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(write_all, frame, args.rate_count)
        for _ in range(args.rate_count):
            await reader.frame()
    rate_seconds = time.perf_counter() - t0
    big = payload(1 << 20, 0)
    big_frame = uvarint(len(big)) + big
    t0 = time.perf_counter()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(write_all, big_frame, args.tput_count)
        for _ in range(args.tput_count):
            await reader.frame()
    tput_seconds = time.perf_counter() - t0
    emit(
        {
            "event": "bench",
            "rtts": rtts,
            "rate_count": args.rate_count,
            "rate_seconds": rate_seconds,
            "tput_count": args.tput_count,
            "tput_seconds": tput_seconds,
        }
    )


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["listen", "dial", "bench"])
    ap.add_argument("--seed", required=True)
    ap.add_argument("--target", default="")
    ap.add_argument("--sizes", default="200,1048576")
    ap.add_argument("--reply", default="same", choices=["same", "new"])
    ap.add_argument("--security", default="noise", choices=["noise", "plaintext"])
    ap.add_argument("--rtt-count", type=int, default=1000)
    ap.add_argument("--rate-count", type=int, default=5000)
    ap.add_argument("--tput-count", type=int, default=64)
    args = ap.parse_args()
    key_pair = create_new_key_pair(bytes.fromhex(args.seed))
    sec_opt = None
    if args.security == "plaintext":
        sec_opt = {TProtocol(PLAINTEXT_PROTOCOL_ID): InsecureTransport(key_pair)}
    host = new_host(key_pair=key_pair, sec_opt=sec_opt, muxer_preference="YAMUX")
    peer = Peer(host, args.reply, collect=args.mode == "dial" and args.reply == "new")
    host.set_stream_handler(PROTOCOL, peer.handler)
    listen = [multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]
    async with host.run(listen_addrs=listen):
        addrs = [str(a) for a in host.get_addrs()]
        emit({"event": "ready", "peer_id": str(host.get_id()), "addr": addrs[0] if addrs else ""})
        if args.mode == "listen":
            await trio.sleep_forever()
        info = info_from_p2p_addr(multiaddr.Multiaddr(args.target))
        try:
            await host.connect(info)
            stream = await host.new_stream(info.peer_id, [PROTOCOL])
        except Exception as exc:  # noqa: BLE001 - reported to the test
            emit({"event": "error", "error": f"{type(exc).__name__}: {exc}"})
            return
        if args.mode == "bench":
            await run_bench(stream, args)
            return
        reader = Reader(stream)
        results = []
        for i, size in enumerate(int(s) for s in args.sizes.split(",")):
            data = payload(size, i)
            await stream.write(uvarint(len(data)) + data)
            with trio.fail_after(60):
                back = await (reader.frame() if args.reply == "same" else peer.recv_ch.receive())
            results.append(
                {"size": size, "sha256": hashlib.sha256(data).hexdigest(), "echo_ok": back == data}
            )
        emit({"event": "done", "results": results})
        await trio.sleep_forever()


if __name__ == "__main__":
    trio.run(main)
