"""Block execution: a pure function of (state after the parent, block) (docs/STATE.md). Pure.

`execute_block` rules:

1. Transactions run in block order against a write overlay, so each sees the effects of the
   earlier ones (a revocation at index i invalidates later txs of that producer).
2. Each tx is checked by `validity.check_tx`; the first invalid tx makes the whole block
   invalid: InvalidBlockError(reason, detail, index) is raised and nothing is returned
   (the caller's state is untouched: the executor never writes through the port).
3. A valid tx records ``tx/<hash>`` and ``nonce/<producer>/<nonce>``, then runs its reducer
   (reducers.apply_*), which may emit events and always yields a receipt.
4. After the last tx, ``meta/tip`` records (height, block hash, timestamp, header).
5. The result lists every changed key once, sorted by key, with its final value (None =
   deleted), the events in emission order (index 0..n-1) and one receipt per tx.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass

from cybermesh.block.hashing import block_hash
from cybermesh.block.limits import BlockLimits
from cybermesh.proto.v1 import block_pb2
from cybermesh.state.context import Context, Emitted, Receipt, StateReader
from cybermesh.state.records import TIP_KEY, NonceRecord, Tip, TxRecord, nonce_key, tx_key
from cybermesh.state.reducers import Outcome, apply_anomaly, apply_evidence, apply_policy
from cybermesh.state.validity import CheckedTx, InvalidTxError, check_tx

REDUCERS: dict[int, Callable[[Context, CheckedTx], Outcome]] = {
    block_pb2.TX_KIND_ANOMALY: apply_anomaly,
    block_pb2.TX_KIND_EVIDENCE: apply_evidence,
    block_pb2.TX_KIND_POLICY: apply_policy,
}


class InvalidBlockError(ValueError):
    """A block rejected as a whole. `index` is the offending tx (None: the block itself)."""

    def __init__(self, reason: str, detail: str, index: int | None = None, tx_hash: bytes = b"") -> None:
        where = "block" if index is None else f"tx {index}"
        super().__init__(f"{where}: {reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.index = index
        self.tx_hash = tx_hash


@dataclass(frozen=True)
class Execution:
    """What executing one block produced."""

    height: int
    block_hash: bytes
    changes: tuple[tuple[bytes, bytes | None], ...]
    """Every changed state key once, sorted by key; None means deleted."""
    events: tuple[Emitted, ...]
    """control.* events, in emission order; event i has index i."""
    receipts: tuple[Receipt, ...]
    """One per tx, in block order."""


def _apply(ctx: Context, tx: CheckedTx) -> None:
    ctx.put(tx_key(tx.tx_hash), TxRecord(ctx.height, tx.index))
    ctx.put(nonce_key(tx.msg.producer_id, tx.msg.nonce), NonceRecord(tx.tx_hash))
    status, detail = REDUCERS[tx.kind](ctx, tx)
    ctx.receipts.append(Receipt(tx.index, tx.tx_hash, tx.kind, status, detail))


def execute_block(
    state: StateReader,
    block: block_pb2.Block,
    limits: BlockLimits,
    verified: Container[bytes] = frozenset(),
) -> Execution:
    """Execute `block` on the state after its parent (rules 1-5).

    NOTE: the caller has checked the block's shape (`cybermesh.block.validate_block_shape`).
    `verified` may hold tx hashes whose signatures THIS node verified earlier (admission);
    never fill it from another node's claims.
    """
    header = block.header
    ctx = Context(state, header.height, header.timestamp, limits)
    for index, tx in enumerate(block.txs):
        try:
            checked = check_tx(ctx, index, tx, verified)
        except InvalidTxError as exc:
            raise InvalidBlockError(exc.reason, exc.detail, exc.index, exc.tx_hash) from None
        _apply(ctx, checked)
    digest = block_hash(header)
    ctx.put(TIP_KEY, Tip(header.height, digest, header.timestamp, header.SerializeToString(deterministic=True)))
    return Execution(
        height=header.height,
        block_hash=digest,
        changes=tuple(sorted(ctx.writes.items())),
        events=tuple(ctx.events),
        receipts=tuple(ctx.receipts),
    )


@dataclass(frozen=True)
class Rejected:
    """A candidate the proposer left out, and why (an InvalidTxError reason code)."""

    tx: block_pb2.Tx
    reason: str
    detail: str


def filter_txs(
    state: StateReader,
    candidates: Iterable[block_pb2.Tx],
    height: int,
    timestamp: int,
    limits: BlockLimits,
    verified: Container[bytes] = frozenset(),
) -> tuple[list[block_pb2.Tx], list[Rejected]]:
    """The proposer's selection: candidates (in priority order) that are valid in sequence
    on `state` for a block at (height, timestamp), within max_txs and max_bytes.

    NOTE: pass the result unchanged to `build_block`: its own limits then drop nothing, so
    the block executes exactly as simulated here.
    """
    ctx = Context(state, height, timestamp, limits)
    accepted: list[block_pb2.Tx] = []
    rejected: list[Rejected] = []
    size = 0
    for tx in candidates:
        if len(accepted) >= limits.max_txs:
            break
        if size + len(tx.raw) > limits.max_bytes:
            continue
        try:
            checked = check_tx(ctx, len(accepted), tx, verified)
        except InvalidTxError as exc:
            rejected.append(Rejected(tx, exc.reason, exc.detail))
            continue
        _apply(ctx, checked)
        accepted.append(tx)
        size += len(tx.raw)
    return accepted, rejected
