"""State keys and records, with their versioned canonical codec (docs/STATE.md §Records). Pure.

Codec rules:
1. A value is ``u8 codec_version (=1) || u8 tag || fields``, fields in declaration order.
2. ``int`` is i64 big-endian two's complement; ``bool`` is one byte 0/1; ``str`` is
   ``u32 length || UTF-8``; ``bytes`` is ``u32 length || raw``; ``tuple[str, ...]`` is
   ``u32 count || str*``.
3. Decoding rejects an unknown codec version or tag, a wrong tag for the expected record,
   and trailing bytes (CodecError), so each record has exactly one encoding.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Final, TypeVar

CODEC_VERSION: Final = 1
_I64 = struct.Struct(">q")
_U32 = struct.Struct(">I")

R = TypeVar("R", bound="Record")
_NAMES: dict[type, tuple[str, ...]] = {}


class CodecError(ValueError):
    """Bytes that are not the canonical encoding of the expected record."""


class Record:
    """Base of state records: `encode()` and `decode(raw)` per rules 1-3."""

    TAG: ClassVar[int]
    _TYPES: ClassVar[tuple[str, ...]]

    def encode(self) -> bytes:
        out = [bytes((CODEC_VERSION, self.TAG))]
        for name, kind in zip(self._names(), self._TYPES, strict=True):
            value = getattr(self, name)
            if kind == "int":
                out.append(_I64.pack(value))
            elif kind == "bool":
                out.append(b"\x01" if value else b"\x00")
            elif kind == "str":
                raw = value.encode("utf-8")
                out.append(_U32.pack(len(raw)) + raw)
            elif kind == "bytes":
                out.append(_U32.pack(len(value)) + value)
            else:  # strs
                out.append(_U32.pack(len(value)))
                for item in value:
                    raw = item.encode("utf-8")
                    out.append(_U32.pack(len(raw)) + raw)
        return b"".join(out)

    @classmethod
    def _names(cls) -> tuple[str, ...]:
        names = _NAMES.get(cls)
        if names is None:
            names = _NAMES[cls] = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
        return names

    @classmethod
    def decode(cls: type[R], raw: bytes) -> R:
        if len(raw) < 2 or raw[0] != CODEC_VERSION or raw[1] != cls.TAG:
            raise CodecError(f"{cls.__name__}: bad header {raw[:2].hex()}")
        pos, values = 2, []
        try:
            for kind in cls._TYPES:
                value: Any
                if kind == "int":
                    (value,) = _I64.unpack_from(raw, pos)
                    pos += 8
                elif kind == "bool":
                    if raw[pos] > 1:
                        raise CodecError(f"{cls.__name__}: bool byte {raw[pos]}")
                    value, pos = raw[pos] == 1, pos + 1
                elif kind in ("str", "bytes"):
                    value, pos = _chunk(raw, pos)
                    if kind == "str":
                        value = value.decode("utf-8")
                else:
                    (count,) = _U32.unpack_from(raw, pos)
                    pos += 4
                    items = []
                    for _ in range(count):
                        item, pos = _chunk(raw, pos)
                        items.append(item.decode("utf-8"))
                    value = tuple(items)
                values.append(value)
        except (struct.error, IndexError, UnicodeDecodeError) as exc:
            raise CodecError(f"{cls.__name__}: truncated or malformed: {exc}") from None
        if pos != len(raw):
            raise CodecError(f"{cls.__name__}: {len(raw) - pos} trailing bytes")
        return cls(*values)


def _chunk(raw: bytes, pos: int) -> tuple[bytes, int]:
    (n,) = _U32.unpack_from(raw, pos)
    end = pos + 4 + n
    if end > len(raw):
        raise CodecError("length runs past the end")
    return raw[pos + 4 : end], end


@dataclass(frozen=True)
class ProducerRecord(Record):
    """`producer/<producer_id>`: a registered producer (from genesis)."""

    TAG: ClassVar[int] = 1
    _TYPES: ClassVar[tuple[str, ...]] = ("bytes", "strs", "strs", "int")
    pubkey: bytes
    topics: tuple[str, ...]
    """Sorted ai.* topics it may publish to."""
    roles: tuple[str, ...]
    """Sorted roles (genesis.ROLES)."""
    revoked_height: int = 0
    """Height of the block that revoked it; 0 = active."""


@dataclass(frozen=True)
class Reputation(Record):
    """`rep/<entity>`: reputation score of an entity (absent = score 0, no anomalies)."""

    TAG: ClassVar[int] = 2
    _TYPES: ClassVar[tuple[str, ...]] = ("int", "int", "int")
    score: int
    anomalies: int
    """Anomalies recorded about the entity."""
    updated_height: int


@dataclass(frozen=True)
class Quarantine(Record):
    """`quarantine/<entity>`: present iff the entity is quarantined."""

    TAG: ClassVar[int] = 3
    _TYPES: ClassVar[tuple[str, ...]] = ("int", "str")
    since_height: int
    reason: str
    """`threshold` or `policy:<policy id>`."""


@dataclass(frozen=True)
class Param(Record):
    """`param/<name>`: a policy parameter."""

    TAG: ClassVar[int] = 4
    _TYPES: ClassVar[tuple[str, ...]] = ("int",)
    value: int


@dataclass(frozen=True)
class AnomalyRecord(Record):
    """`anomaly/<anomaly id>`: a committed anomaly (ids are one chain-wide namespace)."""

    TAG: ClassVar[int] = 5
    _TYPES: ClassVar[tuple[str, ...]] = ("str", "str", "int", "int", "int", "bool")
    producer_id: str
    source: str
    delta: int
    """The reputation delta it applied (before clamping)."""
    height: int
    index: int
    corroborated: bool = False
    """True once accepted evidence has applied its delta a second time."""


@dataclass(frozen=True)
class EvidenceRecord(Record):
    """`evidence/<evidence id>`: an evidence decision."""

    TAG: ClassVar[int] = 6
    _TYPES: ClassVar[tuple[str, ...]] = ("str", "str", "int", "int", "int")
    producer_id: str
    status: str
    """`accepted` or `rejected`."""
    applied: int
    """Anomaly deltas this evidence applied."""
    height: int
    index: int


@dataclass(frozen=True)
class PolicyRecord(Record):
    """`policy/<policy id>`: a policy transaction and its outcome (receipt status)."""

    TAG: ClassVar[int] = 7
    _TYPES: ClassVar[tuple[str, ...]] = ("str", "int", "str", "str", "int", "int")
    producer_id: str
    action: int
    rule: str
    status: str
    height: int
    index: int


@dataclass(frozen=True)
class TxRecord(Record):
    """`tx/<tx hash>`: a committed transaction's position."""

    TAG: ClassVar[int] = 8
    _TYPES: ClassVar[tuple[str, ...]] = ("int", "int")
    height: int
    index: int


@dataclass(frozen=True)
class NonceRecord(Record):
    """`nonce/<producer_id>/<u64 nonce>`: the tx that used this (producer, nonce)."""

    TAG: ClassVar[int] = 9
    _TYPES: ClassVar[tuple[str, ...]] = ("bytes",)
    tx_hash: bytes


@dataclass(frozen=True)
class Tip(Record):
    """`meta/tip`: the last executed block."""

    TAG: ClassVar[int] = 10
    _TYPES: ClassVar[tuple[str, ...]] = ("int", "bytes", "int", "bytes")
    height: int
    block_hash: bytes
    timestamp: int
    header: bytes
    """The block's BlockHeader, deterministically serialized (restarts resume from it)."""


# -- keys (docs/STATE.md §Keys). Producer ids cannot contain "/" (genesis id syntax). -------
def producer_key(producer_id: str) -> bytes:
    return b"producer/" + producer_id.encode()


def reputation_key(entity: str) -> bytes:
    return b"rep/" + entity.encode()


def quarantine_key(entity: str) -> bytes:
    return b"quarantine/" + entity.encode()


def param_key(name: str) -> bytes:
    return b"param/" + name.encode()


def anomaly_key(anomaly_id: str) -> bytes:
    return b"anomaly/" + anomaly_id.encode()


def evidence_key(evidence_id: str) -> bytes:
    return b"evidence/" + evidence_id.encode()


def policy_key(policy_id: str) -> bytes:
    return b"policy/" + policy_id.encode()


def tx_key(tx_hash: bytes) -> bytes:
    return b"tx/" + tx_hash


def nonce_key(producer_id: str, nonce: int) -> bytes:
    return b"nonce/" + producer_id.encode() + b"/" + nonce.to_bytes(8, "big")


TIP_KEY: Final = b"meta/tip"
