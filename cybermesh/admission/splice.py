"""Signing bytes without re-serializing: splice the signature field out of the canonical bytes.

For a record that passed strict decoding (so `raw` is the deterministic serialization, fields
in field-number order) and the schema (64-byte signature, 32-byte pubkey), the last two fields
of every ai.* message are `signature` then `pubkey`, so `raw` ends with

    tag(signature) 0x40 <64 bytes> tag(pubkey) 0x20 <32 bytes>

and M' (the message with `signature` cleared, serialized deterministically) is `raw` with the
first 66 of those 100 bytes removed. The result equals
`cybermesh.wire.signing.signing_bytes(topic, msg)` (property test:
tests/property/test_admission_splice.py).
"""

from __future__ import annotations

from typing import Final

from google.protobuf.message import Message

from cybermesh.wire.signing import DOMAIN, PUBKEY_LEN, SIGNATURE_LEN, signing_bytes
from cybermesh.wire.topics import AI_TOPICS, MESSAGE_TYPES

_TAIL: Final = 2 + SIGNATURE_LEN + 2 + PUBKEY_LEN
_PUBKEY_FIELD: Final = 2 + PUBKEY_LEN


def _tags(topic: str) -> tuple[int, int]:
    fields = MESSAGE_TYPES[topic].DESCRIPTOR.fields_by_name
    return (fields["signature"].number << 3) | 2, (fields["pubkey"].number << 3) | 2


_PREFIX: Final = {topic: DOMAIN + topic.encode("ascii") + b"\x00" for topic in AI_TOPICS}
_TAGS: Final = {topic: _tags(topic) for topic in AI_TOPICS}


def signing_bytes_of(topic: str, raw: bytes, msg: Message) -> bytes:
    """The signing bytes of `msg` (decoded strictly from `raw`) on `topic`.

    Splices when the layout above holds; otherwise falls back to re-serializing.
    """
    sig_tag, pk_tag = _TAGS[topic]
    n = len(raw)
    if (
        n >= _TAIL
        and raw[n - _TAIL] == sig_tag
        and raw[n - _TAIL + 1] == SIGNATURE_LEN
        and raw[n - _PUBKEY_FIELD] == pk_tag
        and raw[n - _PUBKEY_FIELD + 1] == PUBKEY_LEN
    ):
        return _PREFIX[topic] + raw[: n - _TAIL] + raw[n - _PUBKEY_FIELD :]
    return signing_bytes(topic, msg)
