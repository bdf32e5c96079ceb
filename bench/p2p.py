"""p2p benchmark: our asyncio libp2p stack vs py-libp2p 0.8.1, two processes each, same run.

    python bench/p2p.py [--rtt-count 2000] [--rate-count 20000] [--tput-count 64]

Per stack, a server process echoes every frame on `/cybermesh/consensus/1.0.0` back on the same
stream, and a client process measures over TCP + Noise + yamux on 127.0.0.1:
  rtt       ping-pong of 200-byte frames, one at a time: p50 / p99 latency, and messages/s
  rate      --rate-count 200-byte frames written back to back while the echoes are read
            (pipelined round-trip message rate)
  tput      --tput-count 1 MiB frames, pipelined the same way: MiB/s each way
For our stack it also measures `transport_rate`: the Transport API (send()/recv(), batching,
bounded queues) echoing 200-byte messages between two processes.
Each stack runs --repeat times, interleaved; the top-level figures are medians, "runs" has each
run. Prints one JSON object. Ports: ephemeral (127.0.0.1:0).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nacl.signing  # noqa: E402

from cybermesh.p2p.framing import encode_frame, read_frame  # noqa: E402
from cybermesh.p2p.host import Host  # noqa: E402
from cybermesh.p2p.multiaddr import Multiaddr  # noqa: E402
from cybermesh.p2p.peer_id import PeerId  # noqa: E402
from cybermesh.p2p.transport import CONSENSUS, Transport, TransportConfig  # noqa: E402

PY_PEER = ROOT / "tests" / "integration" / "p2p" / "pylibp2p_peer.py"
CAP = 4 << 20


def seed(label: str) -> bytes:
    return hashlib.sha256(b"bench/" + label.encode()).digest()


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


# -- our processes -----------------------------------------------------------------------------
async def ours_server() -> None:
    host = Host(nacl.signing.SigningKey(seed("server")))

    async def echo(conn: object, stream: Any) -> None:
        try:
            while True:
                data = await read_frame(stream, CAP)
                await stream.write(encode_frame(data, CAP))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass

    host.set_stream_handler(CONSENSUS, echo)
    addr = await host.listen("127.0.0.1", 0)
    emit({"event": "ready", "addr": str(addr)})
    await asyncio.Event().wait()


async def ours_client(target: str, args: argparse.Namespace) -> None:
    host = Host(nacl.signing.SigningKey(seed("client")))
    addr = Multiaddr.parse(target)
    assert addr.peer_id is not None
    conn = await host.dial(addr, addr.peer_id)
    stream = await host.open_stream(conn, CONSENSUS)
    msg = encode_frame(bytes(200), CAP)
    rtts = []
    for _ in range(args.rtt_count):
        t0 = time.perf_counter()
        await stream.write(msg)
        await read_frame(stream, CAP)
        rtts.append(time.perf_counter() - t0)

    async def pipelined(frame: bytes, count: int) -> float:
        async def write_all() -> None:
            for _ in range(count):
                await stream.write(frame)

        t0 = time.perf_counter()
        writer = asyncio.create_task(write_all())
        for _ in range(count):
            await read_frame(stream, CAP)
        await writer
        return time.perf_counter() - t0

    rate_seconds = await pipelined(msg, args.rate_count)
    tput_seconds = await pipelined(encode_frame(bytes(1 << 20), CAP), args.tput_count)
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
    await host.close()


async def transport_node(role: str, target: str, count: int) -> None:
    me = nacl.signing.SigningKey(seed(f"t-{role}"))
    other = nacl.signing.SigningKey(seed("t-server" if role == "client" else "t-client"))
    other_id = PeerId.from_ed25519(bytes(other.verify_key))
    cfg = TransportConfig(
        outbound_queue=count + 1, inbound_queue=count + 1, rate_per_s=1e9, burst=1e9
    )
    addr = Multiaddr.parse(target) if target else None
    t = Transport(me, {other_id: addr}, cfg)
    listen = await t.start("/ip4/127.0.0.1/tcp/0" if role == "server" else None)
    if role == "server":
        emit({"event": "ready", "addr": str(listen)})
        while True:
            msg = await t.recv()
            await t.send(msg.peer, CONSENSUS, msg.data)
    await t.send(other_id, CONSENSUS, b"warm-up")
    await t.recv()
    payload = bytes(200)
    t0 = time.perf_counter()
    for _ in range(count):
        await t.send(other_id, CONSENSUS, payload)
    for _ in range(count):
        await t.recv()
    emit({"event": "transport", "count": count, "seconds": time.perf_counter() - t0})
    await t.stop()


# -- orchestration -----------------------------------------------------------------------------
def spawn(cmd: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def line(proc: subprocess.Popen[str]) -> dict[str, Any]:
    assert proc.stdout is not None
    raw = proc.stdout.readline()
    if not raw:
        raise RuntimeError(f"benchmark process {proc.args!r} exited early")
    return json.loads(raw)


def pair(server_cmd: list[str], client_cmd: list[str]) -> dict[str, Any]:
    server = spawn(server_cmd)
    try:
        ready = line(server)
        client = spawn([*client_cmd, "--target", ready["addr"]])
        try:
            while (result := line(client))["event"] == "ready":
                pass
            if result["event"] == "error":
                raise RuntimeError(f"benchmark client failed: {result}")
            return result
        finally:
            client.kill()
            client.wait()
    finally:
        server.kill()
        server.wait()


def summarize(raw: dict[str, Any]) -> dict[str, float]:
    rtts = sorted(raw["rtts"])
    p50 = statistics.median(rtts)
    p99 = rtts[min(len(rtts) - 1, int(len(rtts) * 0.99))]
    return {
        "rtt_p50_us": round(p50 * 1e6, 1),
        "rtt_p99_us": round(p99 * 1e6, 1),
        "pingpong_msgs_per_s": round(len(rtts) / sum(rtts), 1),
        "pipelined_msgs_per_s": round(raw["rate_count"] / raw["rate_seconds"], 1),
        "tput_1mib_MiB_per_s": round(raw["tput_count"] / raw["tput_seconds"], 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--role", default="main")
    ap.add_argument("--target", default="")
    ap.add_argument("--rtt-count", type=int, default=2000)
    ap.add_argument("--rate-count", type=int, default=20000)
    ap.add_argument("--tput-count", type=int, default=64)
    ap.add_argument("--transport-count", type=int, default=50000)
    ap.add_argument("--repeat", type=int, default=3, help="interleaved runs; medians reported")
    args = ap.parse_args()
    if args.role == "ours-server":
        asyncio.run(ours_server())
        return
    if args.role == "ours-client":
        asyncio.run(ours_client(args.target, args))
        return
    if args.role in ("transport-server", "transport-client"):
        asyncio.run(transport_node(args.role.split("-")[1], args.target, args.transport_count))
        return
    counts = [
        f"--rtt-count={args.rtt_count}",
        f"--rate-count={args.rate_count}",
        f"--tput-count={args.tput_count}",
    ]
    me = [sys.executable, str(Path(__file__).resolve())]
    py = [sys.executable, str(PY_PEER)]
    runs: dict[str, list[dict[str, float]]] = {"pylibp2p": [], "ours": []}
    for _ in range(args.repeat):  # interleaved, so both stacks see the same machine load
        runs["pylibp2p"].append(
            summarize(
                pair(
                    [*py, "listen", "--seed", seed("py-server").hex(), "--reply", "same"],
                    [*py, "bench", "--seed", seed("py-client").hex(), *counts],
                )
            )
        )
        ours_run = summarize(
            pair([*me, "--role", "ours-server"], [*me, "--role", "ours-client", *counts])
        )
        tr = pair(
            [*me, "--role", "transport-server", f"--transport-count={args.transport_count}"],
            [*me, "--role", "transport-client", f"--transport-count={args.transport_count}"],
        )
        ours_run["transport_echo_msgs_per_s"] = round(tr["count"] / tr["seconds"], 1)
        runs["ours"].append(ours_run)
    results: dict[str, Any] = {
        name: {k: round(statistics.median(r[k] for r in rs), 2) for k in rs[0]}
        for name, rs in runs.items()
    }
    results["runs"] = runs
    ours, theirs = results["ours"], results["pylibp2p"]
    results["ratio_ours_over_pylibp2p"] = {
        "pingpong_msgs_per_s": round(
            ours["pingpong_msgs_per_s"] / theirs["pingpong_msgs_per_s"], 2
        ),
        "pipelined_msgs_per_s": round(
            ours["pipelined_msgs_per_s"] / theirs["pipelined_msgs_per_s"], 2
        ),
        "tput_1mib": round(ours["tput_1mib_MiB_per_s"] / theirs["tput_1mib_MiB_per_s"], 2),
    }
    results["params"] = {
        "rtt_count": args.rtt_count,
        "rate_count": args.rate_count,
        "tput_count": args.tput_count,
        "transport_count": args.transport_count,
        "repeat": args.repeat,
        "message_bytes": 200,
    }
    results["machine"] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
