"""What a committed block produces for the outside world, as bytes. Pure.

Rules:
1. `BlockOutputs` = the executor's events, receipts and state changes of one committed block;
   `encode_outputs`/`decode_outputs` is a canonical, self-delimiting binary form (stored next
   to the block in the local ledger store so that emission and projection can be redone after
   a crash without re-executing on a later state).
2. Kafka keys (consumers dedupe by them): ledger.blocks.v1 and control.commits.v1 records are
   keyed by `u64be(height)`; other control.* events by `u64be(height) || u32be(index)`.
3. `commit_event` builds control.commits.v1 {height, hash, state_root, tx_count, ts,
   validator_id}; every validator publishes its own copy (one logical commit per height).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from cybermesh.ledger.reader import height_key
from cybermesh.proto.v1 import block_pb2, control_pb2
from cybermesh.state.context import Emitted, Receipt
from cybermesh.state.executor import Execution
from cybermesh.wire import topics
from cybermesh.wire.strict import encode

_MAGIC = b"CMOUT1"


class OutputsDecodeError(ValueError):
    """Stored outputs that are not in the rule-1 encoding; carries the offset."""

    def __init__(self, offset: int, detail: str) -> None:
        super().__init__(f"outputs at byte {offset}: {detail}")
        self.offset = offset


@dataclass(frozen=True)
class BlockOutputs:
    height: int
    block_hash: bytes
    events: tuple[Emitted, ...]
    receipts: tuple[Receipt, ...]
    changes: tuple[tuple[bytes, bytes | None], ...]

    @classmethod
    def of(cls, execution: Execution) -> BlockOutputs:
        return cls(execution.height, execution.block_hash, execution.events, execution.receipts, execution.changes)


def _b(raw: bytes) -> bytes:
    return struct.pack(">I", len(raw)) + raw


def _s(text: str) -> bytes:
    return _b(text.encode("utf-8"))


def encode_outputs(out: BlockOutputs) -> bytes:
    parts = [_MAGIC, struct.pack(">Q", out.height), _b(out.block_hash), struct.pack(">I", len(out.events))]
    for ev in out.events:
        parts += [_s(ev.topic), _b(encode(ev.message))]
    parts.append(struct.pack(">I", len(out.receipts)))
    for r in out.receipts:
        parts += [struct.pack(">II", r.index, r.kind), _b(r.tx_hash), _s(r.status), _s(r.detail)]
    parts.append(struct.pack(">I", len(out.changes)))
    for key, value in out.changes:
        parts += [_b(key), b"\x00" if value is None else b"\x01" + _b(value)]
    return b"".join(parts)


class _Reader:
    def __init__(self, raw: bytes) -> None:
        self.raw, self.pos = raw, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.raw):
            raise OutputsDecodeError(self.pos, f"truncated (need {n} bytes)")
        out = self.raw[self.pos : self.pos + n]
        self.pos += n
        return out

    def u32(self) -> int:
        return int(struct.unpack(">I", self.take(4))[0])

    def bytes_(self) -> bytes:
        return self.take(self.u32())

    def str_(self) -> str:
        return self.bytes_().decode("utf-8")


def decode_outputs(raw: bytes) -> BlockOutputs:
    r = _Reader(raw)
    if r.take(len(_MAGIC)) != _MAGIC:
        raise OutputsDecodeError(0, "bad magic")
    height = int(struct.unpack(">Q", r.take(8))[0])
    digest = r.bytes_()
    events = []
    for _ in range(r.u32()):
        topic = r.str_()
        msg = topics.MESSAGE_TYPES[topic]()
        msg.ParseFromString(r.bytes_())
        events.append(Emitted(topic, msg))
    receipts = []
    for _ in range(r.u32()):
        index, kind = struct.unpack(">II", r.take(8))
        receipts.append(Receipt(index, r.bytes_(), kind, r.str_(), r.str_()))
    changes: list[tuple[bytes, bytes | None]] = []
    for _ in range(r.u32()):
        key = r.bytes_()
        changes.append((key, r.bytes_() if r.take(1) == b"\x01" else None))
    if r.pos != len(raw):
        raise OutputsDecodeError(r.pos, "trailing bytes")
    return BlockOutputs(height, digest, tuple(events), tuple(receipts), tuple(changes))


def event_key(height: int, index: int) -> bytes:
    """Rule 2: key of the other control.* records."""
    return struct.pack(">QI", height, index)


def commit_event(header: block_pb2.BlockHeader, block_hash: bytes, state_root: bytes,
                 validator_id: str) -> control_pb2.CommitEvent:
    """Rule 3."""
    return control_pb2.CommitEvent(
        schema_version=1, height=header.height, hash=block_hash, state_root=state_root,
        tx_count=header.tx_count, ts=header.timestamp, validator_id=validator_id,
    )


def records(committed: block_pb2.CommittedBlock, out: BlockOutputs, state_root: bytes,
            validator_id: str) -> list[tuple[str, bytes, bytes]]:
    """Every Kafka record of one committed block, in publishing order: (topic, key, value).

    ledger.blocks.v1 first, then the executor's events (index order), then the commit event.
    """
    h = committed.block.header
    recs = [(topics.LEDGER_BLOCKS, height_key(h.height), encode(committed))]
    for i, ev in enumerate(out.events):
        recs.append((ev.topic, event_key(h.height, i), encode(ev.message)))
    recs.append((topics.CONTROL_COMMITS, height_key(h.height),
                 encode(commit_event(h, out.block_hash, state_root, validator_id))))
    return recs
