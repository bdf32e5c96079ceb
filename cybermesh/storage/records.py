"""What a projected block is: small frozen values, independent of the block/state cores.

A `BlockRecord` is everything the SQL projection stores for one committed block: the header
fields, the commit certificate, the transactions with their receipt codes, the evidence
decisions, the state changes at version = height, the entity (reputation/quarantine) values
after the block, the validator set and any state snapshots taken at this height.

Rules (enforced in `__post_init__`, violations raise `RecordError` naming the field):

1. Integers only. Heights, rounds, timestamps, indexes and reputations fit in a signed
   64-bit column; a nonce is a full uint64 (stored as its two's-complement int64).
2. Hashes are 32 bytes (block hash, parent hash, tx hash); roots are 0 or 32 bytes
   (0 = not known to this writer, e.g. state_root_hint of height 1).
3. Collections are tuples in canonical order: transactions by index (0..n-1, contiguous,
   `tx_count == len(txs)`), evidence by tx index, changes by key (unique), entities by id
   (unique), validators by id (unique), snapshots by height (unique).

`record_digest(record)` is the SHA-256 of a canonical encoding of the chain-derived content
(everything except snapshots, which are per-validator local facts: a file location, and the
commit QC, a proof of which validators may hold different valid copies). Two
validators that executed the same block identically produce the same digest; the adapter
compares it on re-save to catch divergent execution, not only a forked block hash.

`from_committed_block` builds a record from a `block_pb2.CommittedBlock` plus the executor's
outputs as plain values (`Receipt`, `StateChange`, `EntityRecord`), so the end-to-end wiring
only adapts the state core's types to these.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from google.protobuf.message import DecodeError as _PbDecodeError

from cybermesh.proto.v1 import ai_pb2, block_pb2
from cybermesh.wire.topics import TOPIC_BY_TX_KIND

HASH_LEN: Final = 32
I64_MAX: Final = 2**63 - 1
I64_MIN: Final = -(2**63)
U64_MAX: Final = 2**64 - 1

#: Receipt code of a transaction that was applied. Other codes are the executor's.
RECEIPT_OK: Final = 0


class RecordError(ValueError):
    """A record that breaks one of the module rules; the message names the field."""


def _i64(name: str, value: int, *, minimum: int = I64_MIN) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError(f"{name}: expected an integer, got {value!r}")
    if not minimum <= value <= I64_MAX:
        raise RecordError(f"{name}: {value} is outside [{minimum}, {I64_MAX}]")


def _hash(name: str, value: bytes, *, empty_ok: bool = False) -> None:
    if not isinstance(value, bytes):
        raise RecordError(f"{name}: expected bytes, got {type(value).__name__}")
    if len(value) != HASH_LEN and not (empty_ok and len(value) == 0):
        raise RecordError(f"{name}: expected {HASH_LEN} bytes, got {len(value)}")


def _unique_sorted(name: str, keys: Sequence[Any]) -> None:
    for i in range(1, len(keys)):
        if not keys[i - 1] < keys[i]:
            raise RecordError(
                f"{name}[{i}]: {keys[i]!r} is not after {keys[i - 1]!r} (sorted, unique)"
            )


@dataclass(frozen=True)
class TxRecord:
    """One transaction of a committed block, with its receipt code."""

    index: int
    """Position in the block, 0-based."""
    tx_hash: bytes
    """SHA-256 of `raw` (wire.signing.tx_hash)."""
    kind: int
    """block_pb2.TxKind value."""
    topic: str
    """ai.* topic of the message (from the kind)."""
    producer_id: str
    nonce: int
    """uint64 per-producer nonce."""
    tx_id: str
    """The producer-chosen message id (unique per producer)."""
    ts: int
    """Message timestamp, ms since epoch."""
    raw: bytes
    """The signed message, byte for byte as committed."""
    status: int = RECEIPT_OK
    """Receipt code from the executor (RECEIPT_OK = applied)."""

    def __post_init__(self) -> None:
        _i64("tx.index", self.index, minimum=0)
        _hash("tx.tx_hash", self.tx_hash)
        _i64("tx.kind", self.kind, minimum=0)
        _i64("tx.ts", self.ts)
        _i64("tx.status", self.status)
        if isinstance(self.nonce, bool) or not 0 <= self.nonce <= U64_MAX:
            raise RecordError(f"tx.nonce: {self.nonce!r} is not a uint64")


@dataclass(frozen=True)
class EvidenceRecord:
    """The decision on one evidence transaction (control.evidence.v1)."""

    tx_index: int
    """Index of the evidence tx in its block."""
    evidence_id: str
    producer_id: str
    status: str
    """"accepted" | "rejected"."""
    action: str
    refs: tuple[str, ...] = ()
    """Anomaly ids the evidence refers to, in message order."""

    def __post_init__(self) -> None:
        _i64("evidence.tx_index", self.tx_index, minimum=0)


@dataclass(frozen=True)
class StateChange:
    """A write to the versioned state at version = block height."""

    key: bytes
    """State key; its encoding belongs to the state core."""
    value: bytes | None
    """New value, or None for a delete."""


@dataclass(frozen=True)
class EntityRecord:
    """An entity's reputation and quarantine flag after the block (only entities it touched)."""

    entity_id: str
    reputation: int
    quarantined: bool

    def __post_init__(self) -> None:
        _i64("entity.reputation", self.reputation)


@dataclass(frozen=True)
class ValidatorRecord:
    """A member of the validator set."""

    validator_id: str
    consensus_pubkey: bytes
    node_pubkey: bytes
    address: str


@dataclass(frozen=True)
class SnapshotRecord:
    """A state snapshot a validator took (a local fact: its file location differs per node)."""

    height: int
    root: bytes
    location: str
    size: int

    def __post_init__(self) -> None:
        _i64("snapshot.height", self.height, minimum=0)
        _hash("snapshot.root", self.root)
        _i64("snapshot.size", self.size, minimum=0)


@dataclass(frozen=True)
class BlockRecord:
    """Everything projected for one committed block (module rules 1-3)."""

    height: int
    hash: bytes
    parent_hash: bytes
    round: int
    proposer: str
    timestamp: int
    """Block timestamp, ms since epoch."""
    state_root: bytes
    """State root after executing this block (b"" if not known to this writer)."""
    state_root_hint: bytes
    """State root after the parent, as certified in the header."""
    tx_count: int
    commit_qc: bytes
    """Serialized QuorumCert that commits this block (CommittedBlock.commit_qc)."""
    chain_id: str = ""
    txs: tuple[TxRecord, ...] = ()
    evidence: tuple[EvidenceRecord, ...] = ()
    changes: tuple[StateChange, ...] = ()
    entities: tuple[EntityRecord, ...] = ()
    validators: tuple[ValidatorRecord, ...] = ()
    snapshots: tuple[SnapshotRecord, ...] = field(default=(), compare=True)

    def __post_init__(self) -> None:
        _i64("height", self.height, minimum=1)
        _i64("round", self.round, minimum=0)
        _i64("timestamp", self.timestamp)
        _i64("tx_count", self.tx_count, minimum=0)
        _hash("hash", self.hash)
        _hash("parent_hash", self.parent_hash)
        _hash("state_root", self.state_root, empty_ok=True)
        _hash("state_root_hint", self.state_root_hint, empty_ok=True)
        if self.tx_count != len(self.txs):
            raise RecordError(f"tx_count: {self.tx_count} but {len(self.txs)} txs")
        for i, tx in enumerate(self.txs):
            if tx.index != i:
                raise RecordError(f"txs[{i}].index: expected {i}, got {tx.index}")
        _unique_sorted("evidence", [e.tx_index for e in self.evidence])
        _unique_sorted("changes", [c.key for c in self.changes])
        _unique_sorted("entities", [e.entity_id for e in self.entities])
        _unique_sorted("validators", [v.validator_id for v in self.validators])
        _unique_sorted("snapshots", [s.height for s in self.snapshots])


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def record_digest(record: BlockRecord) -> bytes:
    """SHA-256 of the canonical JSON of the chain-derived content: every field but snapshots
    (local facts) and commit_qc (a proof that validators legitimately hold different copies of:
    docs/LEDGER.md, rule 2). The stored commit_qc is the first writer's."""
    return _digest(record, with_commit_qc=False)


def legacy_record_digest(record: BlockRecord, commit_qc: bytes) -> bytes:
    """The digest that rows written before commit_qc left it carry: `record` with `commit_qc`
    (the stored one) included. Lets such rows still be verified rather than raise false alarms."""
    return _digest(replace(record, commit_qc=commit_qc), with_commit_qc=True)


def _digest(record: BlockRecord, *, with_commit_qc: bool) -> bytes:
    body = {
        "height": record.height,
        "hash": record.hash.hex(),
        "parent_hash": record.parent_hash.hex(),
        "round": record.round,
        "proposer": record.proposer,
        "timestamp": record.timestamp,
        "state_root": record.state_root.hex(),
        "state_root_hint": record.state_root_hint.hex(),
        "tx_count": record.tx_count,
        "chain_id": record.chain_id,
        "txs": [[_plain(getattr(t, f)) for f in _TX_FIELDS] for t in record.txs],
        "evidence": [[_plain(getattr(e, f)) for f in _EV_FIELDS] for e in record.evidence],
        "changes": [
            [c.key.hex(), None if c.value is None else c.value.hex()] for c in record.changes
        ],
        "entities": [[e.entity_id, e.reputation, e.quarantined] for e in record.entities],
        "validators": [[_plain(getattr(v, f)) for f in _VAL_FIELDS] for v in record.validators],
    }
    if with_commit_qc:
        body["commit_qc"] = record.commit_qc.hex()
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).digest()


_TX_FIELDS: Final = (
    "index",
    "tx_hash",
    "kind",
    "topic",
    "producer_id",
    "nonce",
    "tx_id",
    "ts",
    "status",
)
_EV_FIELDS: Final = ("tx_index", "evidence_id", "producer_id", "status", "action", "refs")
_VAL_FIELDS: Final = ("validator_id", "consensus_pubkey", "node_pubkey", "address")


# --- construction from the wire types ------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    """The executor's outcome for one transaction (the adapter's view of a receipt)."""

    index: int
    code: int = RECEIPT_OK
    evidence_status: str = ""
    """For evidence txs: "accepted" | "rejected"."""
    evidence_action: str = ""


_AiMessage = ai_pb2.Anomaly | ai_pb2.Evidence | ai_pb2.Policy
_MESSAGE_BY_KIND: Final[dict[int, type[_AiMessage]]] = {
    block_pb2.TX_KIND_ANOMALY: ai_pb2.Anomaly,
    block_pb2.TX_KIND_EVIDENCE: ai_pb2.Evidence,
    block_pb2.TX_KIND_POLICY: ai_pb2.Policy,
}


def header_hash(header: block_pb2.BlockHeader) -> bytes:
    """SHA-256 of the deterministic serialization of a block header.

    NOTE: the block core owns the block hash; pass `block_hash=` to `from_committed_block`
    when its definition differs from this default.
    """
    return hashlib.sha256(header.SerializeToString(deterministic=True)).digest()


def tx_record(index: int, tx: block_pb2.Tx, receipt: Receipt | None) -> TxRecord:
    """Decode one committed tx into a TxRecord (fields of the ai.* message)."""
    cls = _MESSAGE_BY_KIND.get(tx.kind)
    if cls is None:
        raise RecordError(f"txs[{index}].kind: unknown tx kind {tx.kind}")
    msg = cls()
    try:
        msg.ParseFromString(tx.raw)
    except _PbDecodeError as exc:
        raise RecordError(f"txs[{index}].raw: not a {cls.DESCRIPTOR.name}: {exc}") from None
    return TxRecord(
        index=index,
        tx_hash=hashlib.sha256(tx.raw).digest(),
        kind=tx.kind,
        topic=TOPIC_BY_TX_KIND[tx.kind],
        producer_id=msg.producer_id,
        nonce=msg.nonce,
        tx_id=msg.id,
        ts=msg.ts,
        raw=bytes(tx.raw),
        status=RECEIPT_OK if receipt is None else receipt.code,
    )


def from_committed_block(
    committed: block_pb2.CommittedBlock,
    *,
    state_root: bytes,
    receipts: Sequence[Receipt] = (),
    changes: Sequence[StateChange] = (),
    entities: Sequence[EntityRecord] = (),
    validators: Sequence[ValidatorRecord] = (),
    snapshots: Sequence[SnapshotRecord] = (),
    block_hash: bytes | None = None,
) -> BlockRecord:
    """Build the BlockRecord of `committed` and the executor's outputs for it.

    1. The block hash is `block_hash` if given, else `header_hash(header)`.
    2. Each tx takes the code of the receipt with its index (RECEIPT_OK when there is none).
    3. Each evidence tx yields an EvidenceRecord from its message (id, producer, refs) and its
       receipt (status, action); without a receipt its status is "".
    4. Changes, entities, validators and snapshots are sorted into canonical order.
    """
    header = committed.block.header
    by_index = {r.index: r for r in receipts}
    txs = tuple(tx_record(i, tx, by_index.get(i)) for i, tx in enumerate(committed.block.txs))
    evidence = []
    for tx in txs:
        if tx.kind != block_pb2.TX_KIND_EVIDENCE:
            continue
        ev = ai_pb2.Evidence()
        ev.ParseFromString(tx.raw)
        receipt = by_index.get(tx.index)
        evidence.append(
            EvidenceRecord(
                tx_index=tx.index,
                evidence_id=ev.id,
                producer_id=ev.producer_id,
                status="" if receipt is None else receipt.evidence_status,
                action="" if receipt is None else receipt.evidence_action,
                refs=tuple(ev.refs),
            )
        )
    return BlockRecord(
        height=header.height,
        hash=header_hash(header) if block_hash is None else block_hash,
        parent_hash=bytes(header.parent_hash),
        round=header.round,
        proposer=header.proposer,
        timestamp=header.timestamp,
        state_root=state_root,
        state_root_hint=bytes(header.state_root_hint),
        tx_count=len(txs),
        commit_qc=committed.commit_qc.SerializeToString(deterministic=True),
        chain_id=header.chain_id,
        txs=txs,
        evidence=tuple(evidence),
        changes=tuple(sorted(changes, key=lambda c: c.key)),
        entities=tuple(sorted(entities, key=lambda e: e.entity_id)),
        validators=tuple(sorted(validators, key=lambda v: v.validator_id)),
        snapshots=tuple(sorted(snapshots, key=lambda s: s.height)),
    )
