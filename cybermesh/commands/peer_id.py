"""`cybermesh peer-id`: libp2p peer ids of node keys (from hex public keys or a genesis file)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from cybermesh.genesis import GenesisError, parse_genesis
from cybermesh.p2p.peer_id import PeerId, PeerIdError


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "peer-id", help="print the libp2p peer ids of Ed25519 node keys"
    )
    p.add_argument("pubkeys", nargs="*", help="node public keys, 64 hex chars each")
    p.add_argument(
        "--genesis", type=Path, help="print every validator's id, peer id and dial address"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.genesis is not None:
        try:
            genesis = parse_genesis(json.loads(args.genesis.read_text()))
        except (OSError, ValueError, GenesisError) as exc:
            print(f"error: {args.genesis}: {exc}")
            return 2
        for v in genesis.validators:
            pid = PeerId.from_ed25519(v.node_pubkey)
            print(f"{v.id}\t{pid}\t{v.address}/p2p/{pid}")
    for hexkey in args.pubkeys:
        try:
            print(PeerId.from_ed25519(bytes.fromhex(hexkey)))
        except (ValueError, PeerIdError) as exc:
            print(f"error: {hexkey!r}: {exc}")
            return 2
    return 0
