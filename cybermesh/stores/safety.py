"""Durable safety data (the `SafetyStorage` port of cybermesh.consensus.safety_data).

One small file, replaced atomically: write `<path>.tmp`, fsync it, rename it over `<path>`,
fsync the directory. A crash at any point leaves either the old or the new record, never a
torn one; `save` returns only after the rename is durable.
"""

from __future__ import annotations

import os
from pathlib import Path

from cybermesh.consensus.safety_data import SafetyData, decode_safety, encode_safety
from cybermesh.stores.durable import fsync_dir, write_atomic


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
        write_atomic(self.path, encode_safety(data))
        fsync_dir(self.path.parent)
