"""The validator's local committed-block store (RocksDB under `<data_dir>/ledger`).

Keys (one keyspace, raw bytes):
- `b || u64be(height)` -> CommittedBlock (deterministic protobuf encoding)
- `o || u64be(height)` -> the block's outputs (`cybermesh.node.outputs.encode_outputs`)
- `mtop`     -> u64be of the highest stored height
- `memitted` -> u64be of the highest height whose Kafka records were all acknowledged
  (the tracking record of the emitter)

Rules:
1. `append(height, committed, outputs)` writes the block, its outputs and `mtop` in one
   WriteBatch; heights are appended in order (top + 1), a height <= top is ignored (idempotent).
2. `set_emitted(h)` is written only after every record of heights <= h was acknowledged.
3. `recent(n)` returns the newest n committed blocks, oldest first (the Replica's `ledger=`).
"""

from __future__ import annotations

import struct
from pathlib import Path

from rocksdict import Options, Rdict, WriteBatch, WriteOptions

from cybermesh.proto.v1 import block_pb2


def _h(prefix: bytes, height: int) -> bytes:
    return prefix + struct.pack(">Q", height)


class LedgerOrderError(ValueError):
    def __init__(self, height: int, top: int) -> None:
        super().__init__(f"append height {height} after top {top} (must be top + 1)")
        self.height = height
        self.top = top


class LedgerStore:
    def __init__(self, path: str | Path, *, sync: bool = False) -> None:
        opts = Options(raw_mode=True)
        opts.create_if_missing(True)
        Path(path).mkdir(parents=True, exist_ok=True)
        self._db = Rdict(str(path), options=opts)
        self._wopts = WriteOptions()
        self._wopts.sync = sync

    def _u64(self, key: bytes) -> int:
        raw = self._db.get(key)
        return 0 if raw is None else int.from_bytes(raw, "big")

    @property
    def top(self) -> int:
        return self._u64(b"mtop")

    @property
    def emitted(self) -> int:
        return self._u64(b"memitted")

    def append(self, height: int, committed: bytes, outputs: bytes) -> bool:
        """Rule 1; True if written."""
        top = self.top
        if height <= top:
            return False
        if height != top + 1:
            raise LedgerOrderError(height, top)
        batch = WriteBatch(raw_mode=True)
        batch.put(_h(b"b", height), committed)
        batch.put(_h(b"o", height), outputs)
        batch.put(b"mtop", struct.pack(">Q", height))
        self._db.write(batch, self._wopts)
        return True

    def block(self, height: int) -> block_pb2.CommittedBlock | None:
        raw = self._db.get(_h(b"b", height))
        return None if raw is None else block_pb2.CommittedBlock.FromString(raw)

    def outputs(self, height: int) -> bytes | None:
        raw: bytes | None = self._db.get(_h(b"o", height))
        return raw

    def set_emitted(self, height: int) -> None:
        """Rule 2."""
        self._db.put(b"memitted", struct.pack(">Q", height), self._wopts)

    def recent(self, n: int) -> list[block_pb2.CommittedBlock]:
        """Rule 3."""
        top = self.top
        out = []
        for h in range(max(1, top - n + 1), top + 1):
            blk = self.block(h)
            if blk is not None:
                out.append(blk)
        return out

    def close(self) -> None:
        self._db.close()
