"""The execution context of one block: a write overlay over the state port, and outputs. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TypeVar

from google.protobuf.message import Message

from cybermesh.block.limits import BlockLimits
from cybermesh.state.params import PARAMS
from cybermesh.state.records import Param, Record, param_key

R = TypeVar("R", bound=Record)


class StateReader(Protocol):
    """The read port of execution: the state after the parent block.

    NOTE: `get` must return the value at the parent's version (the latest committed state);
    the executor never writes through it.
    """

    def get(self, key: bytes) -> bytes | None: ...


@dataclass(frozen=True)
class Receipt:
    """The outcome of one transaction of a committed block."""

    index: int
    """Position of the tx in the block."""
    tx_hash: bytes
    kind: int
    status: str
    """What the reducer did (docs/STATE.md §Receipts), e.g. `applied`, `duplicate_id`."""
    detail: str = ""


@dataclass(frozen=True)
class Emitted:
    """One control.* event: its topic and its message (height and index already set)."""

    topic: str
    message: Message


class Context:
    """Reads through the writes of earlier txs in the same block; collects outputs."""

    def __init__(self, base: StateReader, height: int, timestamp: int, limits: BlockLimits) -> None:
        self.base = base
        self.height = height
        self.timestamp = timestamp
        self.limits = limits
        self.writes: dict[bytes, bytes | None] = {}
        self.events: list[Emitted] = []
        self.receipts: list[Receipt] = []

    def get(self, key: bytes) -> bytes | None:
        if key in self.writes:
            return self.writes[key]
        return self.base.get(key)

    def read(self, key: bytes, cls: type[R]) -> R | None:
        raw = self.get(key)
        return None if raw is None else cls.decode(raw)

    def put(self, key: bytes, record: Record | None) -> None:
        self.writes[key] = None if record is None else record.encode()

    def param(self, name: str) -> int:
        """The current value of a parameter (its default if state has none)."""
        rec = self.read(param_key(name), Param)
        return PARAMS[name].default if rec is None else rec.value

    def emit(self, topic: str, message: Message) -> None:
        """Append an event, stamping schema_version, height, index and ts (rule E)."""
        message.schema_version = 1  # type: ignore[attr-defined]
        message.height = self.height  # type: ignore[attr-defined]
        message.index = len(self.events)  # type: ignore[attr-defined]
        message.ts = self.timestamp  # type: ignore[attr-defined]
        self.events.append(Emitted(topic, message))
