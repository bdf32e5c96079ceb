"""A py-libp2p (trio) host used as the interop partner of cybermesh.p2p in tests and bench.

Run as a subprocess: `python pylibp2p_peer.py MODE --seed HEX [...]`. It prints one JSON object
per line on stdout: first {"event": "ready", "peer_id", "addr"}, then results.

Modes:
  listen      echo every length-prefixed frame on PROTOCOL back on the same stream
  dial        dial --target, open a stream on PROTOCOL, send frames of --sizes, check echoes
  bench       dial --target, then: RTT ping-pong of --rtt-count frames of 200 bytes, and
              --tput-count frames of 1 MiB (throughput); prints the figures
Options: --security noise|plaintext (plaintext = a peer that speaks nothing else).
Frames are `uvarint(len) || payload`, the cybermesh frame format.
"""

from __future__ import annotations

import argparse
import contextlib
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


async def echo_handler(stream) -> None:
    reader = Reader(stream)
    try:
        while True:
            data = await reader.frame()
            await stream.write(uvarint(len(data)) + data)
    except Exception:  # noqa: BLE001 - the stream ended
        pass
    finally:
        with contextlib.suppress(Exception):
            await stream.close()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["listen", "dial", "bench"])
    ap.add_argument("--seed", required=True)
    ap.add_argument("--target", default="")
    ap.add_argument("--sizes", default="200,1048576")
    ap.add_argument("--security", default="noise", choices=["noise", "plaintext"])
    ap.add_argument("--rtt-count", type=int, default=1000)
    ap.add_argument("--tput-count", type=int, default=64)
    args = ap.parse_args()
    key_pair = create_new_key_pair(bytes.fromhex(args.seed))
    sec_opt = None
    if args.security == "plaintext":
        sec_opt = {TProtocol(PLAINTEXT_PROTOCOL_ID): InsecureTransport(key_pair)}
    host = new_host(key_pair=key_pair, sec_opt=sec_opt, muxer_preference="YAMUX")
    host.set_stream_handler(PROTOCOL, echo_handler)
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
        reader = Reader(stream)
        if args.mode == "dial":
            results = []
            for i, size in enumerate(int(s) for s in args.sizes.split(",")):
                data = payload(size, i)
                await stream.write(uvarint(len(data)) + data)
                back = await reader.frame()
                results.append(
                    {
                        "size": size,
                        "sha256": hashlib.sha256(data).hexdigest(),
                        "echo_ok": back == data,
                    }
                )
            emit({"event": "done", "results": results})
        else:
            msg = payload(200, 0)
            rtts = []
            for _ in range(args.rtt_count):
                t0 = time.perf_counter()
                await stream.write(uvarint(len(msg)) + msg)
                await reader.frame()
                rtts.append(time.perf_counter() - t0)
            big = payload(1 << 20, 0)
            t0 = time.perf_counter()
            for _ in range(args.tput_count):
                await stream.write(uvarint(len(big)) + big)
                await reader.frame()
            elapsed = time.perf_counter() - t0
            emit(
                {
                    "event": "bench",
                    "rtts": rtts,
                    "tput_seconds": elapsed,
                    "tput_count": args.tput_count,
                }
            )
        await stream.close()
        await host.close() if hasattr(host, "close") else None


if __name__ == "__main__":
    trio.run(main)
