"""A mempool entry, its priority, and its record encoding (the mempool table's value).

Priority (best first) is the ascending order of `priority_key`:

1. class: policy before evidence before anomalies (CLASS_RANK; governance and corroboration
   first, they are rare and change how anomalies are scored);
2. then a higher score: severity x confidence (0..100,000) for anomalies, 0 for the others;
3. then an older `ts` (the message's own timestamp);
4. then the smaller tx hash (total order: no two entries compare equal).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from cybermesh.proto.v1 import block_pb2, mempool_pb2

CLASS_RANK: Final[dict[int, int]] = {
    block_pb2.TX_KIND_POLICY: 2,
    block_pb2.TX_KIND_EVIDENCE: 1,
    block_pb2.TX_KIND_ANOMALY: 0,
}
RECORD_VERSION: Final = 1

PriorityKey = tuple[int, int, int, bytes]


@dataclass(frozen=True, slots=True)
class Entry:
    """One admitted transaction waiting for a block."""

    tx_hash: bytes
    """SHA-256 of `raw`."""
    kind: int
    """TxKind."""
    raw: bytes
    """The producer's record, byte for byte as admitted."""
    score: int
    """severity x confidence for anomalies, 0 otherwise."""
    ts: int
    """The message's ts (ms)."""
    admitted_ms: int
    """Local clock at admission; the age cap counts from here."""
    replay_key: bytes = b""
    """Admission's (producer_id, nonce) key; stored with the record so the replay cache can
    be rebuilt from the mempool (one table write per admitted tx)."""
    replay_expires_ms: int = 0
    """Until when the replay key and the tx hash stay refused by admission."""

    @property
    def size(self) -> int:
        """Bytes counted against the byte cap: len(raw)."""
        return len(self.raw)


def priority_key(entry: Entry) -> PriorityKey:
    """Sort key, ascending = best first (rules 1-4)."""
    return (-CLASS_RANK.get(entry.kind, -1), -entry.score, entry.ts, entry.tx_hash)


def encode_entry(entry: Entry) -> bytes:
    """The table record of `entry` (MempoolEntry, deterministic serialization)."""
    record = mempool_pb2.MempoolEntry(
        schema_version=RECORD_VERSION,
        tx=block_pb2.Tx(schema_version=1, kind=entry.kind, raw=entry.raw),  # type: ignore[arg-type]
        admitted_ms=entry.admitted_ms,
        ts=entry.ts,
        score=entry.score,
        replay_key=entry.replay_key,
        replay_expires_ms=entry.replay_expires_ms,
    )
    return record.SerializeToString(deterministic=True)


def decode_entry(tx_hash: bytes, record: bytes) -> Entry:
    """The entry stored as `record` under `tx_hash`. Raises ValueError on a corrupt record."""
    msg = mempool_pb2.MempoolEntry()
    try:
        msg.ParseFromString(record)
    except Exception as exc:  # noqa: BLE001 - protobuf raises several types
        raise ValueError(f"mempool record {tx_hash.hex()}: {exc}") from None
    if msg.schema_version != RECORD_VERSION:
        raise ValueError(f"mempool record {tx_hash.hex()}: version {msg.schema_version}")
    return Entry(
        tx_hash,
        msg.tx.kind,
        msg.tx.raw,
        msg.score,
        msg.ts,
        msg.admitted_ms,
        msg.replay_key,
        msg.replay_expires_ms,
    )
