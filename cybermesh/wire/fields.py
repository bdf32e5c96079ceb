"""The JSON form of the ai.* messages, and their field limits. Pure.

Used by `cybermesh produce` (`--json`, `--field k=v`), by the signing test vectors and by any
tool that wants to show a message to a human. The JSON form is ours (not protobuf's JSON
mapping) and has these rules:

1. Keys are the protobuf field names (`producer_id`, not `producerId`). An unknown key is an
   error (`FieldError(field, "unknown field")`).
2. String fields are JSON strings.
3. Integer fields (uint32, uint64, int64, sint64) are JSON integers (never booleans, never
   floats) within the protobuf type's range.
4. Bytes fields are lowercase hex strings of even length (`"payload": "68656c6c6f"`).
5. Enum fields are the enum value's name, e.g. `"action": "POLICY_ACTION_QUARANTINE"`.
6. Repeated fields are JSON lists; nested messages (`PolicyParam`) are JSON objects.
7. `to_fields` emits only fields that are set (non-default), in field-number order, so
   `from_fields(cls, to_fields(m)) == m`.

`check_limits(msg)` then enforces the value rules DESIGN §3 puts on an ai.* message beyond its
types (severity 0..10, confidence 0..10000 bp, a supported schema_version, ...).
"""

from __future__ import annotations

import json
import re
from typing import Any, Final, TypeVar

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from cybermesh.proto.v1 import ai_pb2
from cybermesh.wire.signing import PUBKEY_LEN, SIGNATURE_LEN
from cybermesh.wire.topics import SUPPORTED_SCHEMA_VERSIONS

M = TypeVar("M", bound=Message)

MAX_SEVERITY: Final = 10
MAX_CONFIDENCE_BP: Final = 10_000
HASH_LEN: Final = 32

_HEX = re.compile(r"^(?:[0-9a-f]{2})*$")
_T = FieldDescriptor
_INT_RANGES: Final[dict[int, tuple[int, int]]] = {
    _T.TYPE_UINT32: (0, 2**32 - 1),
    _T.TYPE_UINT64: (0, 2**64 - 1),
    _T.TYPE_INT32: (-(2**31), 2**31 - 1),
    _T.TYPE_SINT32: (-(2**31), 2**31 - 1),
    _T.TYPE_INT64: (-(2**63), 2**63 - 1),
    _T.TYPE_SINT64: (-(2**63), 2**63 - 1),
}


class FieldError(ValueError):
    """A field value that does not fit the message; `field` is its dotted path."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def _scalar(fd: Any, value: Any, path: str) -> Any:
    if fd.type == _T.TYPE_STRING:
        if not isinstance(value, str):
            raise FieldError(path, f"expected a string, got {value!r}")
        return value
    if fd.type in _INT_RANGES:
        if isinstance(value, bool) or not isinstance(value, int):
            raise FieldError(path, f"expected an integer, got {value!r}")
        low, high = _INT_RANGES[fd.type]
        if not low <= value <= high:
            raise FieldError(path, f"{value} is out of range {low}..{high}")
        return value
    if fd.type == _T.TYPE_BYTES:
        if not isinstance(value, str) or not _HEX.match(value):
            raise FieldError(path, f"expected lowercase hex of even length, got {value!r}")
        return bytes.fromhex(value)
    if fd.type == _T.TYPE_ENUM and fd.enum_type is not None:
        names = [v.name for v in fd.enum_type.values]
        if not isinstance(value, str) or value not in names:
            raise FieldError(path, f"expected one of {names}, got {value!r}")
        return fd.enum_type.values_by_name[value].number
    raise FieldError(path, f"unsupported field type {fd.type}")  # pragma: no cover


def _fill(msg: Message, obj: Any, path: str) -> None:
    desc = msg.DESCRIPTOR
    if not isinstance(obj, dict):
        raise FieldError(path or desc.name, f"expected a JSON object, got {obj!r}")
    for name in sorted(obj):
        value = obj[name]
        where = f"{path}.{name}" if path else name
        fd = desc.fields_by_name.get(name)
        if fd is None:
            raise FieldError(
                where, f"unknown field (fields of {desc.name}: {sorted(desc.fields_by_name)})"
            )
        if fd.is_repeated:
            if not isinstance(value, list):
                raise FieldError(where, f"expected a list, got {value!r}")
            target = getattr(msg, name)
            for i, item in enumerate(value):
                if fd.message_type is not None:
                    _fill(target.add(), item, f"{where}[{i}]")
                else:
                    target.append(_scalar(fd, item, f"{where}[{i}]"))
        elif fd.message_type is not None:
            _fill(getattr(msg, name), value, where)
        else:
            setattr(msg, name, _scalar(fd, value, where))


def from_fields(cls: type[M], obj: Any) -> M:
    """The message of type `cls` described by the JSON object `obj` (rules 1-6)."""
    msg = cls()
    _fill(msg, obj, "")
    return msg


def _json_value(fd: FieldDescriptor, value: Any) -> Any:
    if fd.message_type is not None:
        return to_fields(value)
    if fd.type == _T.TYPE_BYTES:
        return bytes(value).hex()
    if fd.type == _T.TYPE_ENUM and fd.enum_type is not None:
        return fd.enum_type.values_by_number[value].name
    return value


def to_fields(msg: Message) -> dict[str, Any]:
    """The JSON object of `msg` (rule 7: set fields only, in field-number order)."""
    out: dict[str, Any] = {}
    for fd, value in msg.ListFields():
        if fd.is_repeated:
            out[fd.name] = [_json_value(fd, item) for item in value]
        else:
            out[fd.name] = _json_value(fd, value)
    return out


def parse_field_arg(cls: type[Message], arg: str) -> tuple[str, Any]:
    """`name=value` from the command line -> (name, JSON value) for `from_fields`.

    The text after `=` is read by the field's type: integers in decimal, bytes as hex,
    strings as is, repeated strings comma-separated (`refs=a1,a2`), anything else (repeated
    integers, nested messages) as JSON.
    """
    name, sep, text = arg.partition("=")
    if not sep or not name:
        raise FieldError(arg, "expected name=value")
    fd = cls.DESCRIPTOR.fields_by_name.get(name)
    if fd is None:
        raise FieldError(
            name,
            f"unknown field (fields of {cls.DESCRIPTOR.name}: {sorted(cls.DESCRIPTOR.fields_by_name)})",
        )
    if fd.is_repeated and fd.type == _T.TYPE_STRING:
        return name, [part for part in text.split(",") if part]
    if fd.is_repeated or fd.message_type is not None:
        try:
            return name, json.loads(text)
        except json.JSONDecodeError as exc:
            raise FieldError(name, f"expected JSON: {exc}") from None
    if fd.type in _INT_RANGES:
        try:
            return name, int(text, 10)
        except ValueError:
            raise FieldError(name, f"expected a decimal integer, got {text!r}") from None
    return name, text


def check_limits(msg: Message) -> None:
    """Raise FieldError unless the ai.* message `msg` obeys the value rules beyond its types:

    1. `schema_version` is one of SUPPORTED_SCHEMA_VERSIONS;
    2. `id` and `producer_id` are non-empty;
    3. an anomaly's `severity` is 0..10 and `confidence` 0..10000 (basis points), and its
       `payload_hash` is 32 bytes (whether it equals SHA-256(payload) is a signature-level
       check: `cybermesh.wire.record.open_record`);
    4. a policy's `action` is not UNSPECIFIED and its `params` keys are unique and ascending;
    5. `pubkey`, when set, is 32 bytes and `signature`, when set, 64 bytes.
    """
    if not isinstance(msg, ai_pb2.Anomaly | ai_pb2.Evidence | ai_pb2.Policy):
        raise FieldError(msg.DESCRIPTOR.name, "not an ai.* message")
    if msg.schema_version not in SUPPORTED_SCHEMA_VERSIONS:
        raise FieldError(
            "schema_version",
            f"{msg.schema_version} is not one of {sorted(SUPPORTED_SCHEMA_VERSIONS)}",
        )
    if not msg.id:
        raise FieldError("id", "must not be empty")
    if not msg.producer_id:
        raise FieldError("producer_id", "must not be empty")
    if isinstance(msg, ai_pb2.Anomaly):
        if msg.severity > MAX_SEVERITY:
            raise FieldError("severity", f"{msg.severity} is out of range 0..{MAX_SEVERITY}")
        if msg.confidence > MAX_CONFIDENCE_BP:
            raise FieldError(
                "confidence", f"{msg.confidence} bp is out of range 0..{MAX_CONFIDENCE_BP}"
            )
        if len(msg.payload_hash) != HASH_LEN:
            raise FieldError(
                "payload_hash",
                f"expected {HASH_LEN} bytes (SHA-256 of payload), got {len(msg.payload_hash)}",
            )
    if isinstance(msg, ai_pb2.Policy):
        if msg.action == ai_pb2.POLICY_ACTION_UNSPECIFIED:
            raise FieldError("action", "must not be POLICY_ACTION_UNSPECIFIED")
        keys = [p.key for p in msg.params]
        if keys != sorted(set(keys)):
            raise FieldError("params", f"keys must be unique and ascending, got {keys}")
    if msg.pubkey and len(msg.pubkey) != PUBKEY_LEN:
        raise FieldError("pubkey", f"expected {PUBKEY_LEN} bytes, got {len(msg.pubkey)}")
    if msg.signature and len(msg.signature) != SIGNATURE_LEN:
        raise FieldError("signature", f"expected {SIGNATURE_LEN} bytes, got {len(msg.signature)}")
