"""Durable small-file writes, shared by the safety file and the voted proposals.

`write_atomic(path, raw)`: write `<path>.tmp`, fsync it, rename it over `path`. A crash at any
point leaves the old file (or none) or the new one, never a torn one. The rename itself is
durable only once the directory is fsync'd (`fsync_dir`), which callers do before they rely on
it.
"""

from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: Path, raw: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(raw)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
