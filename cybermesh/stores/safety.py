"""Durable safety data (the `SafetyStorage` port of cybermesh.consensus.safety_data).

One small file, replaced atomically: write `<path>.tmp`, fsync it, rename it over `<path>`,
fsync the directory. A crash at any point leaves either the old or the new record, never a
torn one; `save` returns only after the rename is durable.
"""

from __future__ import annotations

import os
from pathlib import Path

from cybermesh.consensus.safety_data import SafetyData, decode_safety, encode_safety


class FileSafetyStorage:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def load(self) -> SafetyData | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        return decode_safety(raw)

    def save(self, data: SafetyData) -> None:
        raw = encode_safety(data)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
