"""Contract suite of the VotedBlocks port (cybermesh/consensus/voted.py), in memory and on files."""

from __future__ import annotations

from pathlib import Path

import pytest

from cybermesh.consensus.crypto import SCHEMA_VERSION
from cybermesh.consensus.voted import MemoryVotedBlocks, VotedBlocks
from cybermesh.proto.v1 import consensus_pb2
from cybermesh.stores.voted import FileVotedBlocks
from cybermesh.wire.strict import encode

from .builders import GQC, chain


def proposals(rounds: list[int]) -> list[consensus_pb2.Proposal]:
    out, parent = [], GQC
    for block, qc in chain(rounds):
        out.append(consensus_pb2.Proposal(schema_version=SCHEMA_VERSION, block=block, high_qc=parent,
                                          signature=b"\x01" * 64))
        parent = qc
    return out


class VotedBlocksContract:
    def make(self) -> VotedBlocks:
        raise NotImplementedError

    def reopen(self, store: VotedBlocks) -> VotedBlocks:
        raise NotImplementedError

    def test_put_survives_a_reopen_and_prune_drops_heights_at_or_below(self) -> None:
        store = self.make()
        assert store.load() == []
        ps = proposals([1, 2, 4, 5])
        for p in ps:
            store.put(p)
        store.put(ps[1])  # stored twice (a re-vote in its round): kept once
        again = self.reopen(store)
        assert sorted(encode(p) for p in again.load()) == sorted(encode(p) for p in ps)
        again.prune(2)
        assert sorted(p.block.header.height for p in self.reopen(again).load()) == [3, 4]
        again.prune(10)
        assert self.reopen(again).load() == []


class TestMemory(VotedBlocksContract):
    def make(self) -> VotedBlocks:
        return MemoryVotedBlocks()

    def reopen(self, store: VotedBlocks) -> VotedBlocks:
        return store


class TestFile(VotedBlocksContract):
    @pytest.fixture(autouse=True)
    def _dir(self, tmp_path: Path) -> None:
        self.dir = tmp_path / "consensus" / "voted"

    def make(self) -> VotedBlocks:
        return FileVotedBlocks(self.dir)

    def reopen(self, store: VotedBlocks) -> VotedBlocks:
        return FileVotedBlocks(self.dir)

    def test_an_unreadable_record_is_skipped_and_a_torn_write_is_ignored(self, caplog: pytest.LogCaptureFixture) -> None:
        store = self.make()
        p = proposals([1])[0]
        store.put(p)
        (self.dir / f"{2:020d}-deadbeef.pb").write_bytes(b"\xff\xff not a proposal")
        (self.dir / f"{3:020d}-cafe.pb.tmp").write_bytes(encode(p)[:10])  # a crash mid-put
        (self.dir / f"{4:020d}-{'0' * 64}.pb").write_bytes(encode(proposals([1, 2])[1]))  # not its digest
        assert [encode(x) for x in self.reopen(store).load()] == [encode(p)]
        assert "skipping" in caplog.text
        store.prune(4)
        assert list(self.dir.iterdir()) == []
