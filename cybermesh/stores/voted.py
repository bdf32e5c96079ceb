"""Durable voted proposals (the `VotedBlocks` port of cybermesh.consensus.voted).

One file per proposal in a directory, `<height:020d>-<sha256 of the record>.pb`, written as
the safety file is (write `.tmp`, fsync, rename, fsync the directory): `put` returns only when
the record is durable, and a crash leaves a whole file or none. `prune` unlinks by the height in
the name. A file whose bytes do not match the digest in its name, or do not decode (a disk
fault), is skipped with a warning: the store only serves liveness after a restart
(docs/CONSENSUS.md), never safety.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from cybermesh.proto.v1 import consensus_pb2
from cybermesh.stores.durable import fsync_dir, write_atomic
from cybermesh.wire.strict import DecodeError, decode_strict, encode

log = logging.getLogger("cybermesh.consensus")


class FileVotedBlocks:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def put(self, proposal: consensus_pb2.Proposal) -> None:
        raw = encode(proposal)
        name = f"{proposal.block.header.height:020d}-{hashlib.sha256(raw).hexdigest()}.pb"
        path = self.directory / name
        if not path.exists():
            write_atomic(path, raw)
        fsync_dir(self.directory)

    def load(self) -> list[consensus_pb2.Proposal]:
        out = []
        for path in sorted(self.directory.glob("*.pb")):
            try:
                raw = path.read_bytes()
                if hashlib.sha256(raw).hexdigest() != path.stem.split("-", 1)[-1]:
                    raise DecodeError("undecodable", "its bytes do not match the digest in its name")
                out.append(decode_strict(consensus_pb2.Proposal, raw))
            except (DecodeError, OSError) as exc:
                log.warning("voted proposals: skipping %s: %s", path, exc)
        return out

    def prune(self, height: int) -> None:
        for path in self.directory.iterdir():
            head = path.name.split("-", 1)[0]
            if head.isdigit() and int(head) <= height:
                path.unlink(missing_ok=True)
