"""`cybermesh keygen --out FILE`: a new Ed25519 seed file (mode 0600), public key printed.

Exit codes: 0 written; 1 the file exists or cannot be created (nothing is overwritten).
The file format is described in `cybermesh.keys` (64 hex chars + newline).
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from typing import Any

from cybermesh.keys import KeyFileError, write_seed
from cybermesh.wire.signing import SEED_LEN, key_from_seed


def register(sub: Any) -> None:
    p = sub.add_parser(
        "keygen",
        help="write a new Ed25519 seed file (0600) and print its public key",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--out", required=True, metavar="FILE", help="key file to create (never overwritten)"
    )
    p.add_argument(
        "--json",
        action="store_true",
        help='print {"path": ..., "pubkey": ...} instead of the bare hex',
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    seed = secrets.token_bytes(SEED_LEN)
    try:
        write_seed(args.out, seed)
    except KeyFileError as exc:
        print(f"keygen: {exc}", file=sys.stderr)
        return 1
    pubkey = bytes(key_from_seed(seed).verify_key).hex()
    if args.json:
        print(json.dumps({"path": str(args.out), "pubkey": pubkey}))
    else:
        print(pubkey)
    return 0
