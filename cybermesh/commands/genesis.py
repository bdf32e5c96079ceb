"""`cybermesh genesis`: build a genesis file from flags, or validate one.

Build:
  cybermesh genesis --chain-id ID [--genesis-time MS]
      --validator id=v0,consensus=HEX|@KEYFILE,node=HEX|@KEYFILE,address=/ip4/127.0.0.1/tcp/7100
      [--validator ...]
      [--producer id=det-1,pubkey=HEX|@KEYFILE,topics=ai.anomalies.v1+ai.evidence.v1,roles=detector]
      [--param NAME=INT ...] [--out FILE [--force]]

Validate:
  cybermesh genesis validate FILE

`@KEYFILE` is a seed file written by `cybermesh keygen`; its public key is used. Lists inside a
spec (topics, roles) are joined with `+`. Without --out the genesis JSON goes to stdout.
--genesis-time defaults to now (ms since the epoch). Exit codes: 0 ok, 1 invalid input (the
message names the bad flag or entry, e.g. `validators[1].address: ...`).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from cybermesh.genesis import Genesis, GenesisError, parse_genesis
from cybermesh.genesis_io import dumps_genesis, load_genesis, write_genesis
from cybermesh.keys import KeyFileError, parse_pubkey

VALIDATOR_KEYS = {
    "id": "id",
    "consensus": "consensus_pubkey",
    "node": "node_pubkey",
    "address": "address",
}
PRODUCER_KEYS = {"id": "producer_id", "pubkey": "pubkey", "topics": "topics", "roles": "roles"}
PUBKEY_FIELDS = {"consensus_pubkey", "node_pubkey", "pubkey"}
LIST_FIELDS = {"topics", "roles"}


def register(sub: Any) -> None:
    p = sub.add_parser(
        "genesis",
        help="build a genesis file from flags, or validate one (genesis validate FILE)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--chain-id", metavar="ID")
    p.add_argument(
        "--genesis-time", type=int, metavar="MS", help="ms since the epoch (default: now)"
    )
    p.add_argument("--validator", action="append", default=[], metavar="SPEC")
    p.add_argument("--producer", action="append", default=[], metavar="SPEC")
    p.add_argument("--param", action="append", default=[], metavar="NAME=INT")
    p.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.set_defaults(func=run)
    gsub = p.add_subparsers(dest="genesis_command", metavar="[validate FILE]")
    v = gsub.add_parser("validate", help="validate a genesis file; errors name the bad entry")
    v.add_argument("file")
    v.set_defaults(func=run_validate)


class SpecError(ValueError):
    """A malformed --validator/--producer/--param flag; the message names the flag."""


def parse_spec(flag: str, index: int, text: str, keys: dict[str, str]) -> dict[str, Any]:
    """`k=v,k=v` -> the genesis JSON entry (keys renamed, pubkeys resolved, lists split)."""
    where = f"{flag} #{index + 1} ({text!r})"
    entry: dict[str, Any] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if not sep:
            raise SpecError(f"{where}: {part!r} is not key=value")
        if name not in keys:
            raise SpecError(f"{where}: unknown key {name!r} (expected {', '.join(keys)})")
        field = keys[name]
        if field in entry:
            raise SpecError(f"{where}: {name!r} given twice")
        if field in PUBKEY_FIELDS:
            try:
                entry[field] = parse_pubkey(value).hex()
            except KeyFileError as exc:
                raise SpecError(f"{where}: {name}: {exc}") from None
        elif field in LIST_FIELDS:
            entry[field] = [item for item in value.split("+") if item]
        else:
            entry[field] = value
    return entry


def parse_param(index: int, text: str) -> tuple[str, int]:
    name, sep, value = text.partition("=")
    try:
        if not sep or not name:
            raise ValueError
        return name, int(value, 10)
    except ValueError:
        raise SpecError(f"--param #{index + 1} ({text!r}): expected NAME=INTEGER") from None


def build(args: argparse.Namespace) -> Genesis:
    """The validated genesis described by the flags; SpecError or GenesisError if bad."""
    if not args.chain_id:
        raise SpecError("--chain-id is required")
    params: dict[str, int] = {}
    for i, text in enumerate(args.param):
        name, value = parse_param(i, text)
        if name in params:
            raise SpecError(f"--param #{i + 1}: {name!r} given twice")
        params[name] = value
    obj = {
        "chain_id": args.chain_id,
        "genesis_time": args.genesis_time
        if args.genesis_time is not None
        else time.time_ns() // 1_000_000,
        "validators": [
            parse_spec("--validator", i, s, VALIDATOR_KEYS) for i, s in enumerate(args.validator)
        ],
        "producers": [
            parse_spec("--producer", i, s, PRODUCER_KEYS) for i, s in enumerate(args.producer)
        ],
        "params": params,
    }
    return parse_genesis(obj)


def summary(genesis: Genesis) -> str:
    n = len(genesis.validators)
    return (
        f"chain {genesis.chain_id}: {n} validator(s) (f={genesis.f}, quorum={genesis.quorum}), "
        f"{len(genesis.producers)} producer(s), {len(genesis.params)} param(s)"
    )


def run(args: argparse.Namespace) -> int:
    try:
        genesis = build(args)
        if args.out:
            write_genesis(args.out, genesis, overwrite=args.force)
    except (SpecError, GenesisError) as exc:
        print(f"genesis: {exc}", file=sys.stderr)
        return 1
    if args.out:
        print(f"wrote {args.out}: {summary(genesis)}", file=sys.stderr)
    else:
        sys.stdout.write(dumps_genesis(genesis))
    return 0


def run_validate(args: argparse.Namespace) -> int:
    try:
        genesis = load_genesis(args.file)
    except GenesisError as exc:
        print(f"genesis: {exc}", file=sys.stderr)
        return 1
    print(f"{args.file}: ok: {summary(genesis)}")
    return 0
