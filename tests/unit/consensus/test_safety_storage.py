"""Contract suite of the SafetyStorage port, run against every backend (in-memory, file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cybermesh.consensus.crypto import CachingVerifier
from cybermesh.consensus.safety import SafetyRules
from cybermesh.consensus.safety_data import MemorySafetyStorage, SafetyData, SafetyStorage
from cybermesh.sim.keys import signing_key
from cybermesh.stores.safety import FileSafetyStorage
from cybermesh.wire.strict import DecodeError

from .builders import VS, chain


class SafetyStorageContract:
    """Subclasses provide `make()` and `reopen()` (a fresh handle on the same backend, as
    after a process restart)."""

    def make(self) -> SafetyStorage:
        raise NotImplementedError

    def reopen(self, storage: SafetyStorage) -> SafetyStorage:
        raise NotImplementedError

    def test_load_before_any_save_is_none(self) -> None:
        assert self.make().load() is None

    def test_save_then_load_returns_the_same_data_after_reopen(self) -> None:
        (_b1, qc1), (b2, _) = chain([1, 2])
        storage = self.make()
        sr = SafetyRules(VS, "v1", signing_key("v1"), storage, CachingVerifier())
        sr.vote(b2, qc1, None)
        loaded = self.reopen(storage).load()
        assert loaded == sr.data
        assert loaded is not None and loaded.last_vote is not None
        assert loaded.last_vote.vote_data.round == 2

    def test_last_save_wins(self) -> None:
        storage = self.make()
        for r in range(1, 6):
            storage.save(SafetyData(chain_id="c", last_voted_round=r, highest_timeout_round=r))
        loaded = self.reopen(storage).load()
        assert loaded is not None and loaded.last_voted_round == 5

    def test_a_restarted_replica_returns_the_stored_vote(self) -> None:
        (_b1, qc1), (b2, _) = chain([1, 2])
        storage = self.make()
        first = SafetyRules(VS, "v1", signing_key("v1"), storage, CachingVerifier()).vote(b2, qc1, None)
        again = SafetyRules(VS, "v1", signing_key("v1"), self.reopen(storage),
                            CachingVerifier()).vote(b2, qc1, None)
        assert again.SerializeToString() == first.SerializeToString()


class TestMemorySafetyStorage(SafetyStorageContract):
    def make(self) -> SafetyStorage:
        return MemorySafetyStorage()

    def reopen(self, storage: SafetyStorage) -> SafetyStorage:
        return storage  # the twin lives as long as the test's "disk"


class TestFileSafetyStorage(SafetyStorageContract):
    @pytest.fixture(autouse=True)
    def _dir(self, tmp_path: Path) -> None:
        self.dir = tmp_path

    def make(self) -> SafetyStorage:
        return FileSafetyStorage(self.dir / "v1" / "safety.pb")

    def reopen(self, storage: SafetyStorage) -> SafetyStorage:
        assert isinstance(storage, FileSafetyStorage)
        return FileSafetyStorage(storage.path)

    def test_a_leftover_temp_file_from_a_crash_mid_save_is_ignored(self) -> None:
        storage = FileSafetyStorage(self.dir / "safety.pb")
        storage.save(SafetyData(chain_id="c", last_voted_round=7))
        (self.dir / "safety.pb.tmp").write_bytes(b"\x08torn")  # crash before the rename
        loaded = FileSafetyStorage(self.dir / "safety.pb").load()
        assert loaded is not None and loaded.last_voted_round == 7

    def test_a_corrupt_record_is_an_error_not_a_fresh_start(self) -> None:
        (self.dir / "safety.pb").write_bytes(b"\xff\xff\xff")
        with pytest.raises(DecodeError):
            FileSafetyStorage(self.dir / "safety.pb").load()
