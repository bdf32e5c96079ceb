"""Genesis files: load and write `cybermesh.genesis` documents (the I/O edge of genesis.py).

`load_genesis(path)` is what adapters call at startup: every failure (missing file, bad JSON,
an invalid entry) raises `GenesisError` whose message starts with the file path, e.g.
`genesis.json: producers[1].pubkey: expected 64 lowercase hex chars (Ed25519 key)`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cybermesh.genesis import Genesis, GenesisError, parse_genesis


def load_genesis(path: str | Path) -> Genesis:
    """The validated genesis in the JSON file at `path`; GenesisError naming the file and entry."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise GenesisError(f"{path}: cannot read genesis file: {exc.strerror}") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GenesisError(f"{path}: not JSON: {exc}") from None
    try:
        return parse_genesis(obj)
    except GenesisError as exc:
        raise GenesisError(f"{path}: {exc}") from None


def dumps_genesis(genesis: Genesis) -> str:
    """The canonical file text of `genesis` (2-space indent, trailing newline)."""
    return json.dumps(genesis.to_json(), indent=2) + "\n"


def write_genesis(path: str | Path, genesis: Genesis, *, overwrite: bool = False) -> None:
    """Write `genesis` to `path`; GenesisError if it exists and `overwrite` is False."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o644)
    except FileExistsError:
        raise GenesisError(f"{path}: already exists (use --force to overwrite)") from None
    except OSError as exc:
        raise GenesisError(f"{path}: cannot create: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(dumps_genesis(genesis))
