"""Adapt one replayed block to the SQL projection's record (docs/PROJECTION.md).

The record must be the one the validators' commit path projects for the same block (the
projection compares record digests when several writers share a database, and raises
IntegrityAlarm on a difference), so these rules mirror the commit pipeline's
`projection_record` (e2e-node branch, cybermesh/node/commit.py):

1. Receipt codes: `STATUS_CODES[status]` (0 = applied/accepted), 99 for an unknown status.
2. Evidence txs take the `status` and `action` of their control.evidence.v1 event.
3. Changes are the executor's; no entity or validator rows (the commit path writes none).
4. The block hash is the block core's canonical header hash.

NOTE: when both branches are merged, one shared function should build this record.
"""

from __future__ import annotations

from typing import Any, Final

from cybermesh.proto.v1 import ai_pb2, block_pb2
from cybermesh.state.executor import Execution
from cybermesh.storage.records import BlockRecord, Receipt, StateChange, from_committed_block
from cybermesh.wire import topics

STATUS_CODES: Final[dict[str, int]] = {
    "applied": 0, "accepted": 0, "rejected": 1, "duplicate_id": 2, "unauthorized": 3,
    "rejected_param": 4, "unknown_target": 5, "noop": 6,
}  # fmt: skip
UNKNOWN_STATUS: Final = 99


def block_record(
    committed: block_pb2.CommittedBlock, block_hash: bytes, execution: Execution, root: bytes
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
