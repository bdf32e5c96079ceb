"""The state machine consensus drives: execute, commit, propose, over a VersionedTree. Pure.

Version v of the tree is the state after block v; version 0 is the genesis state.

NOTE (caller contract):
1. `start()` once on an empty store (writes version 0), then for each committed block in
   height order: `execution = execute(block)` then `commit(execution)`.
2. `execute` does not write; a block that raises InvalidBlockError/BlockShapeError leaves the
   state untouched.
3. The header of block h carries `state_root_hint` = root(`state_root_height`), a height
   the proposer had committed (<= h - 1, lagged deferred execution); `execute` checks it
   against this node's own root at that height when that version is retained.
"""

from __future__ import annotations

from collections.abc import Container, Iterable

from cybermesh.block.builder import build_block, genesis_header
from cybermesh.block.hashing import block_hash
from cybermesh.block.limits import BlockLimits
from cybermesh.block.validation import validate_block_shape
from cybermesh.genesis import Genesis
from cybermesh.proto.v1 import block_pb2
from cybermesh.state.executor import Execution, Rejected, execute_block, filter_txs
from cybermesh.state.params import genesis_changes
from cybermesh.state.records import TIP_KEY, Tip
from cybermesh.state.smt import key_hash
from cybermesh.state.tree import VersionedTree


class LatestView:
    """StateReader over the tree's latest version."""

    def __init__(self, tree: VersionedTree) -> None:
        self._get = tree.store.get

    def get(self, key: bytes) -> bytes | None:
        return self._get(b"l" + key_hash(key))


class StateMachine:
    """Blocks in, roots out. Keeps the last committed header (from `meta/tip` after a
    restart or a snapshot restore) to validate the next block."""

    def __init__(self, tree: VersionedTree, genesis: Genesis) -> None:
        self.tree = tree
        self.genesis = genesis
        self.limits = BlockLimits.from_params(genesis.params)
        self.view = LatestView(tree)
        self.parent: block_pb2.BlockHeader = genesis_header(genesis.chain_id, genesis.genesis_time)
        tip = self.view.get(TIP_KEY)
        if tip is not None:  # restart or restored snapshot: resume after the last block
            self.parent = block_pb2.BlockHeader.FromString(Tip.decode(tip).header)

    @property
    def height(self) -> int:
        return self.tree.latest or 0

    def root_at(self, version: int) -> bytes | None:
        """This node's root at `version`, or None when the version is not retained."""
        oldest, latest = self.tree.oldest, self.tree.latest
        if oldest is None or latest is None or not oldest <= version <= latest:
            return None
        return self.tree.root(version)

    def start(self) -> bytes:
        """Write the genesis state as version 0 (rule 1) and return its root."""
        return self.tree.apply(0, genesis_changes(self.genesis))

    def execute(self, block: block_pb2.Block, verified: Container[bytes] = frozenset()) -> Execution:
        """Validate `block` against the last committed header and state, and execute it."""
        root = self.root_at(block.header.state_root_height)
        validate_block_shape(block, self.parent, self.genesis.chain_id, self.limits, root)
        return execute_block(self.view, block, self.limits, verified)

    def commit(self, block: block_pb2.Block, execution: Execution) -> bytes:
        """Apply `execution` (of `block`) as version block.height; return the new root."""
        if execution.block_hash != block_hash(block.header):
            raise ValueError(f"execution of {execution.block_hash.hex()} is not of block {block_hash(block.header).hex()}")
        root = self.tree.apply(execution.height, execution.changes)
        self.parent = block.header
        return root

    def propose(
        self,
        candidates: Iterable[block_pb2.Tx],
        proposer: str,
        round: int,
        timestamp: int,
        verified: Container[bytes] = frozenset(),
    ) -> tuple[block_pb2.Block, list[Rejected]]:
        """A valid child of the last committed block from `candidates` (priority order)."""
        txs, rejected = filter_txs(self.view, candidates, self.parent.height + 1, timestamp, self.limits, verified)
        block = build_block(
            self.parent, txs, proposer, round, timestamp, self.tree.root(), self.genesis.chain_id, self.limits
        )
        return block, rejected
