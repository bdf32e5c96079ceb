"""Adapt one executed committed block to the SQL projection's record (docs/PROJECTION.md).

Rules:
1. Receipt codes: `RECEIPT_CODES[status]` (0 = applied/accepted), 255 for an unknown status.
2. Evidence txs take their receipt status and the `action` of their control.evidence.v1 event.
3. Entities are those whose `rep/` or `quarantine/` key the block changed, with their values
   after the block (read from the state machine's latest view).
4. The genesis validator set is recorded with block 1.
"""

from __future__ import annotations

from typing import Final

from cybermesh.genesis import Genesis
from cybermesh.proto.v1 import ai_pb2, block_pb2
from cybermesh.state.executor import Execution
from cybermesh.state.machine import StateMachine
from cybermesh.state.records import Reputation, quarantine_key, reputation_key
from cybermesh.storage.records import (
    BlockRecord,
    EntityRecord,
    Receipt,
    StateChange,
    ValidatorRecord,
    from_committed_block,
)

RECEIPT_CODES: Final[dict[str, int]] = {
    "applied": 0,
    "accepted": 0,
    "duplicate_id": 1,
    "rejected": 2,
    "unauthorized": 3,
    "invalid": 4,
}
_ENTITY_PREFIXES: Final = (b"rep/", b"quarantine/")


def _entities(machine: StateMachine, execution: Execution) -> list[EntityRecord]:
    ids: set[str] = set()
    for key, _ in execution.changes:
        for prefix in _ENTITY_PREFIXES:
            if key.startswith(prefix):
                ids.add(key[len(prefix):].decode("utf-8", "replace"))
    out = []
    for entity in sorted(ids):
        rep = machine.view.get(reputation_key(entity))
        score = 0 if rep is None else Reputation.decode(rep).score
        out.append(EntityRecord(entity, score, machine.view.get(quarantine_key(entity)) is not None))
    return out


def block_record(
    committed: block_pb2.CommittedBlock,
    block_hash: bytes,
    execution: Execution,
    root: bytes,
    machine: StateMachine,
    genesis: Genesis,
) -> BlockRecord:
    """Rules 1-4: the record of a block executed and committed by `machine`."""
    actions = {
        getattr(e.message, "evidence_id", ""): getattr(e.message, "action", "")
        for e in execution.events
        if e.topic.startswith("control.evidence")
    }
    receipts = []
    for r in execution.receipts:
        evidence = r.kind == block_pb2.TX_KIND_EVIDENCE
        ev_id = ""
        if evidence:
            ev_id = ai_pb2.Evidence.FromString(committed.block.txs[r.index].raw).id
        receipts.append(
            Receipt(
                r.index,
                RECEIPT_CODES.get(r.status, 255),
                r.status if evidence else "",
                actions.get(ev_id, "") if evidence else "",
            )
        )
    validators = []
    if committed.block.header.height == 1:
        validators = [ValidatorRecord(v.id, v.consensus_pubkey, v.node_pubkey, v.address) for v in genesis.validators]
    return from_committed_block(
        committed,
        state_root=root,
        receipts=receipts,
        changes=[StateChange(k, v) for k, v in execution.changes],
        entities=_entities(machine, execution),
        validators=validators,
        block_hash=block_hash,
    )
