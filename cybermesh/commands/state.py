"""`cybermesh state ...`: inspect and move the merkleized state of a validator's data dir.

    cybermesh state info --data-dir D
    cybermesh state prove --data-dir D KEY [--version V]      (KEY as UTF-8, or hex: with 0x)
    cybermesh state export --data-dir D --version V --out FILE
    cybermesh state restore --data-dir D --snapshot FILE [--expected-root HEX]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from cybermesh.state import SparseMerkleProof, verify_proof
from cybermesh.stores.state import StateStore, write_snapshot


def _key(text: str) -> bytes:
    return bytes.fromhex(text[2:]) if text.startswith("0x") else text.encode()


def _info(store: StateStore, args: argparse.Namespace) -> dict[str, Any]:
    t = store.tree
    return {
        "latest": t.latest,
        "oldest": t.oldest,
        "root": t.root().hex(),
        "snapshots": [p.name for p in store.snapshots()],
    }


def _prove(store: StateStore, args: argparse.Namespace) -> dict[str, Any]:
    t = store.tree
    version = args.version if args.version is not None else t.latest
    key = _key(args.key)
    value = t.get(key, version)
    raw = t.prove(key, version).encode()
    root = t.root(version)
    return {
        "version": version,
        "root": root.hex(),
        "key": key.hex(),
        "value": None if value is None else value.hex(),
        "proof": raw.hex(),
        "proof_bytes": len(raw),
        "verified": verify_proof(root, key, value, SparseMerkleProof.decode(raw)),
    }


def _export(store: StateStore, args: argparse.Namespace) -> dict[str, Any]:
    with Path(args.out).open("wb") as out:
        write_snapshot(store.tree, args.version, out)
    return {"version": args.version, "root": store.tree.root(args.version).hex(), "file": str(args.out)}


def _restore(store: StateStore, args: argparse.Namespace) -> dict[str, Any]:
    expected = bytes.fromhex(args.expected_root) if args.expected_root else None
    version, root = store.restore(args.snapshot, expected)
    return {"version": version, "root": root.hex()}


def _run(args: argparse.Namespace) -> int:
    store = StateStore(args.data_dir)
    try:
        print(json.dumps(args.action(store, args), indent=1))
    finally:
        store.close()
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("state", help="inspect, prove, export and restore the state store")
    actions = parser.add_subparsers(dest="state_command", required=True)
    for name, action, help_text in (
        ("info", _info, "versions, root and snapshot files"),
        ("prove", _prove, "value and Merkle proof of a key"),
        ("export", _export, "write a snapshot of a version to a file"),
        ("restore", _restore, "restore a snapshot file into an empty data dir"),
    ):
        p = actions.add_parser(name, help=help_text)
        p.add_argument("--data-dir", required=True, type=Path)
        p.set_defaults(func=_run, action=action)
        if name == "prove":
            p.add_argument("key")
            p.add_argument("--version", type=int)
        elif name == "export":
            p.add_argument("--version", type=int, required=True)
            p.add_argument("--out", required=True, type=Path)
        elif name == "restore":
            p.add_argument("--snapshot", required=True, type=Path)
            p.add_argument("--expected-root")
