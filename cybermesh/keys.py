"""Ed25519 key files: the seed files `cybermesh keygen` writes and every command reads.

Format (the same for producer, consensus and node keys):

1. A key file holds the 32-byte Ed25519 seed (the RFC 8032 secret key) as 64 lowercase hex
   characters followed by a newline. Readers also accept the raw 32 bytes, and surrounding
   whitespace around the hex.
2. It is created with O_CREAT|O_EXCL and mode 0600: an existing file is never overwritten.
3. The public key is derived from the seed; it is never stored next to it.

A public key given on a command line is `HEX` (64 hex chars) or `@FILE` (the public key of the
seed in FILE).
"""

from __future__ import annotations

import os
import re
import stat
import sys
from pathlib import Path

import nacl.signing

from cybermesh.wire.signing import PUBKEY_LEN, SEED_LEN, key_from_seed

_HEX64 = re.compile(rb"^[0-9a-fA-F]{64}$")


class KeyFileError(ValueError):
    """A key file that cannot be written or read; the message starts with the path."""


def write_seed(path: str | Path, seed: bytes) -> None:
    """Write `seed` to a new file at `path` (rules 1-2); KeyFileError if it exists."""
    if len(seed) != SEED_LEN:
        raise KeyFileError(f"{path}: a seed is {SEED_LEN} bytes, got {len(seed)}")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path}: already exists; refusing to overwrite a key file") from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot create: {exc.strerror}") from None
    with os.fdopen(fd, "w") as f:
        f.write(seed.hex() + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_seed(path: str | Path) -> bytes:
    """The seed in the key file at `path` (rule 1). Warns on stderr if others can read it."""
    try:
        data = Path(path).read_bytes()
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read key file: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        print(
            f"warning: key file {path} is accessible by group/others (chmod 600)", file=sys.stderr
        )
    if _HEX64.match(data.strip()):
        return bytes.fromhex(data.strip().decode("ascii"))
    if len(data) == SEED_LEN:
        return data
    raise KeyFileError(
        f"{path}: not a key file (expected 64 hex chars or {SEED_LEN} raw bytes, got {len(data)} bytes)"
    )


def load_signing_key(path: str | Path) -> nacl.signing.SigningKey:
    """The Ed25519 signing key of the seed file at `path`."""
    return key_from_seed(read_seed(path))


def parse_pubkey(ref: str) -> bytes:
    """A public key from `HEX` (64 hex chars) or `@FILE` (a seed file); KeyFileError if bad."""
    if ref.startswith("@"):
        return bytes(load_signing_key(ref[1:]).verify_key)
    if not _HEX64.match(ref.encode("ascii", "replace")):
        raise KeyFileError(f"{ref!r}: expected {2 * PUBKEY_LEN} hex chars or @KEYFILE")
    return bytes.fromhex(ref)
