"""Re-execute verified ledger blocks with the StateMachine (the replay core of `cybermesh replay`).

Rules:
1. The state machine starts from the tree it is given: an empty tree gets the genesis state
   (version 0); a restored snapshot resumes after its `meta/tip` block, and the reader starts
   from that block (heights at or below it are skipped).
2. Each released block is executed by `StateMachine.execute`, which checks its header against
   the last committed one, including `state_root_hint` (whatever rule the executor applies is
   the rule replay applies); then committed. Any failure is a `ReplayFailed(height, reason)`.
3. With a projection, each block's record is saved under `validator_id` after the commit
   (`save_block` verifies blocks already projected and raises IntegrityAlarm on a mismatch).
4. `after_commit(version)` (e.g. StateStore snapshots/pruning) runs after each commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cybermesh.block.validation import BlockShapeError
from cybermesh.consensus.crypto import CachingVerifier
from cybermesh.consensus.validators import ValidatorSet
from cybermesh.genesis import Genesis
from cybermesh.ledger.project import block_record
from cybermesh.ledger.reader import LedgerError, LedgerReader, VerifiedBlock, tip_after
from cybermesh.state.executor import InvalidBlockError
from cybermesh.state.machine import StateMachine
from cybermesh.state.tree import VersionedTree
from cybermesh.storage.port import Projection, ProjectionError


class ReplayFailed(Exception):
    """Replay stopped: the ledger or its re-execution cannot be trusted at `height`."""

    def __init__(self, height: int, reason: str) -> None:
        super().__init__(f"height {height}: {reason}")
        self.height = height
        self.reason = reason


@dataclass(frozen=True)
class Applied:
    height: int
    root: bytes
    tx_count: int


class Replayer:
    """Ledger records in, committed state out (rules 1-4)."""

    def __init__(
        self,
        genesis: Genesis,
        tree: VersionedTree,
        *,
        projection: Projection | None = None,
        validator_id: str = "replay",
        after_commit: Callable[[int], None] | None = None,
    ) -> None:
        self.genesis = genesis
        self.machine = StateMachine(tree, genesis)
        if tree.latest is None:
            self.machine.start()
        self.reader = LedgerReader(
            ValidatorSet.from_genesis(genesis), start=tip_after(self.machine.parent), verify=CachingVerifier()
        )
        self.projection = projection
        self.validator_id = validator_id
        self._after_commit = after_commit
        self.txs = 0

    @property
    def height(self) -> int:
        return self.machine.height

    @property
    def root(self) -> bytes:
        return self.machine.tree.root()

    def feed(self, key: bytes | None, value: bytes) -> list[Applied]:
        """Verify one record; execute and commit the blocks it releases."""
        try:
            released = self.reader.feed(key, value)
        except LedgerError as exc:
            raise ReplayFailed(exc.height, f"ledger: {exc.reason}") from None
        return [self._apply(vb) for vb in released]

    def _apply(self, vb: VerifiedBlock) -> Applied:
        try:
            execution = self.machine.execute(vb.block)
        except (BlockShapeError, InvalidBlockError) as exc:
            raise ReplayFailed(vb.height, f"execution: {exc}") from None
        root = self.machine.commit(vb.block, execution)
        if self._after_commit is not None:
            self._after_commit(vb.height)
        if self.projection is not None:
            record = block_record(vb.committed, vb.hash, execution, root)
            try:
                self.projection.save_block(record, validator_id=self.validator_id)
            except ProjectionError as exc:
                raise ReplayFailed(vb.height, f"projection: {exc}") from None
        self.txs += len(vb.block.txs)
        return Applied(vb.height, root, len(vb.block.txs))

    def incomplete(self) -> str | None:
        """Why the stream ended early, or None: verified blocks still waiting for their commit
        proof, or records above a gap."""
        r = self.reader
        if r.held or r.pending:
            return f"{r.held} verified block(s) after {r.released.height} lack their commit proof; {r.pending} record(s) wait above a gap"
        return None
