"""Strict protobuf decoding.

A record is accepted only if

1. it parses as the expected message type,
2. it carries no unknown fields (at any nesting depth), and
3. it is canonically encoded: re-serializing it with deterministic serialization gives the
   same bytes. This closes transaction-hash malleability: one logical message has exactly one
   encoding, so one tx hash (the signature alone would not pin the bytes, since it covers M'
   re-serialized).
"""

from __future__ import annotations

from typing import TypeVar

from google.protobuf.message import DecodeError as _PbDecodeError
from google.protobuf.message import Message
from google.protobuf.unknown_fields import UnknownFieldSet

M = TypeVar("M", bound=Message)


class DecodeError(ValueError):
    """A record that is not a strict, canonical encoding of the expected message.

    `reason` is a stable code: `undecodable`, `unknown_fields` or `non_canonical`.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def has_unknown_fields(msg: Message) -> bool:
    """True if `msg` or any message nested in it holds fields its schema does not define."""
    if len(UnknownFieldSet(msg)) > 0:
        return True
    for field, value in msg.ListFields():
        if field.message_type is None:
            continue
        if field.is_repeated:
            if any(has_unknown_fields(item) for item in value):
                return True
        elif has_unknown_fields(value):
            return True
    return False


def decode_strict(cls: type[M], raw: bytes) -> M:
    """Parse `raw` as `cls`, enforcing rules 1-3 of the module docstring."""
    msg = cls()
    try:
        msg.ParseFromString(raw)
    except (_PbDecodeError, RuntimeError, ValueError) as exc:
        raise DecodeError("undecodable", f"not a valid {cls.DESCRIPTOR.full_name}: {exc}") from None
    if msg.SerializeToString(deterministic=True) == raw:
        if has_unknown_fields(msg):  # unknown fields re-serialize unchanged
            raise DecodeError("unknown_fields", f"{cls.DESCRIPTOR.full_name} has unknown fields")
        return msg
    if has_unknown_fields(msg):
        raise DecodeError("unknown_fields", f"{cls.DESCRIPTOR.full_name} has unknown fields")
    raise DecodeError("non_canonical", f"{cls.DESCRIPTOR.full_name} is not canonically encoded")


def encode(msg: Message) -> bytes:
    """The one canonical encoding (deterministic serialization)."""
    return msg.SerializeToString(deterministic=True)
