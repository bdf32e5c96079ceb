"""Adapt one replayed block to the SQL projection's record (docs/PROJECTION.md).

The validators' commit path (`CommitPipeline.projection_record`) and `cybermesh replay` both
build the record here, so a database shared by several writers sees equal digests (it raises
IntegrityAlarm on a difference):

1. Receipt codes: `STATUS_CODES[status]` (0 = applied/accepted), 99 for an unknown status.
2. Evidence txs take the `status` and `action` of their control.evidence.v1 event.
3. Changes are the executor's; no entity or validator rows (the commit path writes none).
4. The block hash is the block core's canonical header hash.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Protocol

from cybermesh.proto.v1 import ai_pb2, block_pb2
from cybermesh.state.context import Emitted
from cybermesh.state.context import Receipt as TxReceipt
from cybermesh.storage.records import BlockRecord, Receipt, StateChange, from_committed_block
from cybermesh.wire import topics

STATUS_CODES: Final[dict[str, int]] = {
    "applied": 0, "accepted": 0, "rejected": 1, "duplicate_id": 2, "unauthorized": 3,
    "rejected_param": 4, "unknown_target": 5, "noop": 6,
}  # fmt: skip
UNKNOWN_STATUS: Final = 99


class Outputs(Protocol):
    """What a block's execution produced: an `Execution`, or the node's stored `BlockOutputs`."""

    @property
    def events(self) -> Sequence[Emitted]: ...
    @property
    def receipts(self) -> Sequence[TxReceipt]: ...
    @property
    def changes(self) -> Sequence[tuple[bytes, bytes | None]]: ...


def block_record(
    committed: block_pb2.CommittedBlock, block_hash: bytes, execution: Outputs, root: bytes
) -> BlockRecord:
    """Rules 1-4: the record of a block executed with state root `root` after it."""
    evidence: dict[str, tuple[str, str]] = {}
    for ev in execution.events:
        if ev.topic == topics.CONTROL_EVIDENCE:
            msg: Any = ev.message
            evidence[msg.evidence_id] = (msg.status, msg.action)
    receipts = []
    for r in execution.receipts:
        status, action = "", ""
        if r.kind == block_pb2.TX_KIND_EVIDENCE:
            ev_id = ai_pb2.Evidence.FromString(committed.block.txs[r.index].raw).id
            status, action = evidence.get(ev_id, ("", ""))
        receipts.append(Receipt(r.index, STATUS_CODES.get(r.status, UNKNOWN_STATUS), status, action))
    return from_committed_block(
        committed,
        state_root=root,
        receipts=receipts,
        changes=[StateChange(k, v) for k, v in execution.changes],
        block_hash=block_hash,
    )
