"""The validator's consensus Payload: blocks from the mempool, validity from the state core. Pure.

HotStuff two-chain is pipelined: when block H is proposed, its parent H-1 is certified but
usually not committed. So validity is judged on a *speculative* state:

1. **Base.** The committed state (`StateMachine.view`, version `c` = the machine's height).
2. **Pending ancestors.** The blocks between the committed tip (exclusive) and the parent
   (inclusive), found through `blocks(hash)` (the replica's tree and committed window). Each is
   executed once on the overlay of the ones below it; its `Execution` is cached by block hash
   and dropped when its height is committed (`forget_upto`).
3. **Overlay.** `Overlay(base, layers)` reads the newest layer's change first, so a tx committed
   in a pending ancestor is `already_committed` for a child (no double inclusion across the
   pipeline). The leader never trusts its own mempool either: `build` filters candidates on the
   same overlay (`filter_txs`).
4. **Lagged hint** (docs/BLOCKS.md rule L). `build` sets `state_root_height = c` and
   `state_root_hint = root(c)`. `verify` enforces shape rule 10 and, when this node has
   committed that height, the hint equals its own root there; otherwise the check is done at
   commit time (`execute_committed`), where every height below H is committed.
5. `verify` returns False (never raises) when: the shape is invalid, an ancestor is missing or
   does not descend from the committed tip, an ancestor or the block fails execution.
6. `build` never raises: on failure it returns an empty Block, which the replica refuses to
   propose (`invalid_payload`).
7. Candidates `build` finds already committed in the committed state (a tx this node admitted
   after the network committed it) are handed to `on_committed_candidates`, so the mempool
   drops them instead of offering them to every later block.

`verified` holds tx hashes whose signatures THIS node checked (its mempool: admission); it is
never filled from a peer's claims (docs/STATE.md §9).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass, field

from cybermesh.block.builder import build_block, parent_link
from cybermesh.block.hashing import block_hash
from cybermesh.block.validation import BlockShapeError, validate_block_shape
from cybermesh.proto.v1 import block_pb2
from cybermesh.state.context import StateReader
from cybermesh.state.executor import Execution, InvalidBlockError, execute_block, filter_txs
from cybermesh.state.machine import StateMachine
from cybermesh.state.records import tx_key

BlockLookup = Callable[[bytes], "block_pb2.Block | None"]
Candidates = Callable[[int], Iterable[block_pb2.Tx]]


class Overlay:
    """StateReader: `layers` (oldest first, each a dict of changes, None = deleted) over `base`."""

    def __init__(self, base: StateReader, layers: Sequence[dict[bytes, bytes | None]]) -> None:
        self.base = base
        self.layers = tuple(layers)

    def get(self, key: bytes) -> bytes | None:
        for layer in reversed(self.layers):
            if key in layer:
                return layer[key]
        return self.base.get(key)


class MissingAncestorError(LookupError):
    """A pending ancestor is unknown, or the chain does not reach the committed tip."""

    def __init__(self, block_hash: bytes, committed_height: int) -> None:
        super().__init__(f"ancestor {block_hash.hex()} unknown above committed height {committed_height}")
        self.block_hash = block_hash
        self.committed_height = committed_height


@dataclass(frozen=True)
class Speculative:
    """A pending block's execution, and its changes as a dict (one overlay layer)."""

    block: block_pb2.Block
    execution: Execution
    layer: dict[bytes, bytes | None] = field(hash=False, compare=False)


class NodePayload:
    """`cybermesh.consensus.payload.Payload` for a validator (rules 1-6)."""

    def __init__(
        self,
        machine: StateMachine,
        candidates: Candidates,
        blocks: BlockLookup | None = None,
        verified: Container[bytes] = frozenset(),
    ) -> None:
        self.machine = machine
        self.candidates = candidates
        self.blocks: BlockLookup = blocks if blocks is not None else (lambda _h: None)
        self.verified = verified
        self.cache: dict[bytes, Speculative] = {}
        self.rejections: dict[str, int] = {}
        self.on_committed_candidates: Callable[[list[bytes]], object] = lambda _hashes: None
        """Rule 7: called with candidates the committed state already holds (mempool cleanup)."""

    # -------------------------------------------------------------- speculative state
    def _lookup(self, hash_: bytes) -> block_pb2.Block | None:
        cached = self.cache.get(hash_)
        return cached.block if cached is not None else self.blocks(hash_)

    def pending(self, parent_hash: bytes) -> list[Speculative]:
        """Rule 2: the executions of the uncommitted ancestors up to `parent_hash`, oldest first.
        Raises MissingAncestorError, InvalidBlockError or BlockShapeError."""
        tip = self.machine.parent
        committed, tip_link = tip.height, parent_link(tip)
        chain: list[block_pb2.Block] = []
        hash_ = parent_hash
        while hash_ != tip_link:
            block = self._lookup(hash_)
            if block is None or block.header.height <= committed:
                raise MissingAncestorError(hash_, committed)
            chain.append(block)
            hash_ = bytes(block.header.parent_hash)
        chain.reverse()
        out: list[Speculative] = []
        parent = tip
        for block in chain:
            digest = block_hash(block.header)
            spec = self.cache.get(digest)
            if spec is None:
                validate_block_shape(block, parent, self.machine.genesis.chain_id, self.machine.limits)
                reader = Overlay(self.machine.view, [s.layer for s in out])
                execution = execute_block(reader, block, self.machine.limits, self.verified)
                spec = Speculative(block, execution, dict(execution.changes))
                self.cache[digest] = spec
            out.append(spec)
            parent = block.header
        return out

    def forget_upto(self, height: int) -> None:
        """Drop cached executions at or below `height` (called after each commit)."""
        self.cache = {h: s for h, s in self.cache.items() if s.block.header.height > height}

    def _reject(self, reason: str) -> bool:
        self.rejections[reason] = self.rejections.get(reason, 0) + 1
        return False

    # -------------------------------------------------------------- the Payload port
    def build(self, template: block_pb2.BlockHeader, parent: block_pb2.BlockHeader) -> block_pb2.Block:
        """Leader: mempool selection -> filter on the speculative state -> build_block (rule 6)."""
        m = self.machine
        try:
            pending = self.pending(bytes(template.parent_hash))
            reader = Overlay(m.view, [s.layer for s in pending])
            in_flight = {r.tx_hash for s in pending for r in s.execution.receipts}
            ts = min(template.timestamp, parent.timestamp + m.limits.max_interval_ms)
            fresh = [tx for tx in self.candidates(m.limits.max_txs + len(in_flight))
                     if hashlib.sha256(tx.raw).digest() not in in_flight]  # already in a pending block
            txs, left_out = filter_txs(reader, fresh, template.height, ts, m.limits, self.verified)
            for r in left_out:
                self._reject(f"filtered_{r.reason}")
            self._evict_committed([r.tx for r in left_out if r.reason == "already_committed"])
            lag = min(m.height, parent.height)
            block = build_block(
                parent, txs, template.proposer, template.round, ts, m.tree.root(lag),
                m.genesis.chain_id, m.limits, state_root_height=lag,
            )
            validate_block_shape(block, parent, m.genesis.chain_id, m.limits)  # e.g. a lagging leader
            execution = execute_block(reader, block, m.limits, self.verified)
        except (MissingAncestorError, InvalidBlockError, BlockShapeError, ValueError) as exc:
            self._reject(f"build_{getattr(exc, 'reason', type(exc).__name__)}")
            return block_pb2.Block()
        self.cache[execution.block_hash] = Speculative(block, execution, dict(execution.changes))
        return block

    def _evict_committed(self, txs: list[block_pb2.Tx]) -> None:
        """Rule 7: candidates whose tx hash is in the *committed* state (not only in a pending
        block, which a fork could still drop) are reported for removal from the mempool."""
        if not txs:
            return
        view = self.machine.view
        hashes = [h for h in (hashlib.sha256(tx.raw).digest() for tx in txs) if view.get(tx_key(h)) is not None]
        if hashes:
            self.on_committed_candidates(hashes)

    def verify(self, block: block_pb2.Block, parent: block_pb2.BlockHeader) -> bool:
        """Follower: shape, lagged hint, execution on the speculative state (rules 4, 5)."""
        m = self.machine
        h = block.header
        lag = h.state_root_height
        own = m.root_at(lag) if lag <= m.height else None
        try:
            validate_block_shape(block, parent, m.genesis.chain_id, m.limits, own)
            pending = self.pending(bytes(h.parent_hash))
            reader = Overlay(m.view, [s.layer for s in pending])
            execution = execute_block(reader, block, m.limits, self.verified)
        except (BlockShapeError, InvalidBlockError) as exc:
            return self._reject(exc.reason)
        except MissingAncestorError:
            return self._reject("missing_ancestor")
        self.cache[execution.block_hash] = Speculative(block, execution, dict(execution.changes))
        return True

    # -------------------------------------------------------------- commit
    def execute_committed(self, block: block_pb2.Block) -> Execution:
        """The execution of the next committed block on the committed state: shape and the
        lagged hint against this node's own root (BLOCKS.md rule L.3), then the cached
        speculative execution (valid: its ancestors are now exactly the committed blocks) or a
        fresh one. Raises BlockShapeError (`state_root_mismatch` = divergence) or
        InvalidBlockError."""
        m = self.machine
        digest = block_hash(block.header)
        spec = self.cache.get(digest)
        if spec is None or block.header.parent_hash != parent_link(m.parent):
            return m.execute(block, self.verified)
        validate_block_shape(block, m.parent, m.genesis.chain_id, m.limits, m.root_at(block.header.state_root_height))
        return spec.execution
