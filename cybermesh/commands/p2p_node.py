"""`cybermesh p2p-node`: a validator's consensus over the libp2p transport, without Kafka.

Runs the consensus core (`cybermesh.consensus.Replica`, empty payloads) on the Transport with
the ConsensusDriver, in one event loop: the process the real-network test starts four times.
Committed blocks are appended (fsync) to `<data-dir>/ledger.bin` and printed as JSON lines
`{"event": "commit", "height", "hash", "round"}`; safety data lives in `<data-dir>/safety.bin`.
A restarted node reloads both and catches up from its peers (consensus sync).
Key files hold a 64-hex-char Ed25519 seed (the `cybermesh keygen` format).
Stop it with SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import nacl.signing

from cybermesh.p2p.varint import decode_uvarint, encode_uvarint


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "p2p-node",
        help="run consensus over the libp2p transport without Kafka (network tests, demos)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--genesis", type=Path, required=True)
    p.add_argument("--validator-id", required=True)
    p.add_argument("--node-key", type=Path, required=True, help="libp2p identity seed file")
    p.add_argument("--consensus-key", type=Path, required=True, help="consensus seed file")
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--listen", default="", help="multiaddr (default: the genesis address)")
    p.add_argument("--round-ms", type=int, default=1000, help="base round timeout")
    p.add_argument("--max-round-ms", type=int, default=4000, help="cap of the backed-off timeout")
    p.set_defaults(func=run)


def read_seed(path: Path) -> nacl.signing.SigningKey:
    text = path.read_text().strip()
    if len(text) != 64:
        raise ValueError(f"{path}: expected 64 hex chars")
    return nacl.signing.SigningKey(bytes.fromhex(text))


def read_ledger(path: Path) -> list[bytes]:
    """Records `uvarint(len) || CommittedBlock`; a torn last record (crash) is ignored."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    out, pos = [], 0
    while pos < len(raw):
        head = decode_uvarint(raw, pos)
        if head is None or head[1] + head[0] > len(raw):
            break
        out.append(raw[head[1] : head[1] + head[0]])
        pos = head[1] + head[0]
    with open(path, "r+b") as f:  # drop a torn tail so appends stay aligned
        f.truncate(pos)
    return out


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def run(args: argparse.Namespace) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args))
    return 0


async def _main(args: argparse.Namespace) -> None:
    # The consensus core lives in its own package; imported here so the CLI works without it.
    from cybermesh.consensus.crypto import block_hash
    from cybermesh.consensus.pacemaker import PacemakerConfig
    from cybermesh.consensus.replica import Replica
    from cybermesh.genesis import parse_genesis
    from cybermesh.p2p.driver import ConsensusDriver
    from cybermesh.p2p.peer_id import PeerId
    from cybermesh.p2p.transport import Transport, TransportConfig
    from cybermesh.proto.v1 import block_pb2, consensus_pb2  # type: ignore[attr-defined,unused-ignore]
    from cybermesh.stores.safety import FileSafetyStorage
    from cybermesh.stores.voted import FileVotedBlocks
    from cybermesh.wire.strict import decode_strict, encode

    genesis = parse_genesis(json.loads(args.genesis.read_text()))
    me = genesis.validator(args.validator_id)
    if me is None:
        raise SystemExit(f"p2p-node: {args.validator_id} is not a genesis validator")
    args.data_dir.mkdir(parents=True, exist_ok=True)
    ledger_path = args.data_dir / "ledger.bin"
    ledger = [block_pb2.CommittedBlock.FromString(r) for r in read_ledger(ledger_path)]
    replica = Replica(
        genesis,
        me.id,
        read_seed(args.consensus_key),
        FileSafetyStorage(args.data_dir / "safety.bin"),
        pacemaker=PacemakerConfig(base_ms=args.round_ms, max_ms=args.max_round_ms),
        ledger=ledger,
        voted=FileVotedBlocks(args.data_dir / "voted"),
    )
    config = TransportConfig(backoff_base=0.1, backoff_cap=1.0, dial_grace=0.3)
    transport = Transport.from_genesis(genesis, read_seed(args.node_key), config)
    listen = await transport.start(args.listen or me.address)
    ledger_file = open(ledger_path, "ab")  # noqa: SIM115, ASYNC230 - startup; closed in finally

    def on_commit(commits: Any) -> None:
        for c in commits:
            raw = c.SerializeToString(deterministic=True)
            ledger_file.write(encode_uvarint(len(raw)) + raw)
        ledger_file.flush()
        os.fsync(ledger_file.fileno())
        for c in commits:
            h = c.block.header
            emit(
                {
                    "event": "commit",
                    "height": int(h.height),
                    "round": int(h.round),
                    "hash": block_hash(h).hex(),
                }
            )

    validators = {v.id: PeerId.from_ed25519(v.node_pubkey) for v in genesis.validators}
    driver = ConsensusDriver(
        replica,
        transport,
        validators,
        me=me.id,
        decode=lambda raw: decode_strict(consensus_pb2.ConsensusMessage, raw),
        encode=encode,
        on_commit=on_commit,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await driver.start()
    emit(
        {
            "event": "ready",
            "validator": me.id,
            "peer_id": str(transport.peer_id),
            "addr": str(listen),
            "height": len(ledger),
        }
    )
    try:
        waiter = asyncio.ensure_future(stop.wait())
        done = asyncio.ensure_future(driver.wait())
        await asyncio.wait((waiter, done), return_when=asyncio.FIRST_COMPLETED)
        if done.done():
            done.result()  # a driver failure propagates
        waiter.cancel()
    finally:
        await driver.stop()
        await transport.stop()
        with contextlib.suppress(OSError):
            ledger_file.close()
