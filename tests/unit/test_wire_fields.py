"""The JSON form of ai.* messages and their field limits (cybermesh.wire.fields)."""

from __future__ import annotations

from typing import Any

import pytest

from cybermesh.proto.v1 import ai_pb2
from cybermesh.wire.fields import (
    FieldError,
    check_limits,
    from_fields,
    parse_field_arg,
    to_fields,
)
from cybermesh.wire.signing import payload_hash


def anomaly(**over: Any) -> ai_pb2.Anomaly:
    fields: dict[str, Any] = {
        "schema_version": 1,
        "id": "a1",
        "type": "scan",
        "source": "h1",
        "severity": 5,
        "confidence": 5000,
        "ts": 1,
        "payload_hash": payload_hash(b"").hex(),
        "producer_id": "p",
        "nonce": 1,
    }
    fields.update(over)
    return from_fields(ai_pb2.Anomaly, fields)


def test_round_trip_policy_with_enum_and_nested_params() -> None:
    obj = {
        "schema_version": 1,
        "id": "po",
        "action": "POLICY_ACTION_SET_PARAM",
        "rule": "x",
        "params": [{"key": "value", "int_value": -7}],
        "ts": 5,
        "producer_id": "p",
        "nonce": 9,
    }
    msg = from_fields(ai_pb2.Policy, obj)
    assert msg.action == ai_pb2.POLICY_ACTION_SET_PARAM
    assert msg.params[0].int_value == -7
    assert to_fields(msg) == obj


@pytest.mark.parametrize(
    ("obj", "field", "words"),
    [
        ({"bogus": 1}, "bogus", "unknown field"),
        ({"severity": "7"}, "severity", "expected an integer"),
        ({"severity": True}, "severity", "expected an integer"),
        ({"severity": 7.0}, "severity", "expected an integer"),
        ({"severity": -1}, "severity", "out of range"),
        ({"nonce": 2**64}, "nonce", "out of range"),
        ({"id": 5}, "id", "expected a string"),
        ({"payload": "XYZ"}, "payload", "hex"),
        ({"payload": "abc"}, "payload", "hex"),
    ],
)
def test_from_fields_names_the_bad_field(obj: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(FieldError) as err:
        from_fields(ai_pb2.Anomaly, obj)
    assert err.value.field == field
    assert words in str(err.value)


def test_nested_errors_carry_the_path() -> None:
    with pytest.raises(FieldError) as err:
        from_fields(ai_pb2.Policy, {"params": [{"key": "a"}, {"key": "b", "int_value": "x"}]})
    assert err.value.field == "params[1].int_value"
    with pytest.raises(FieldError, match="action: expected one of"):
        from_fields(ai_pb2.Policy, {"action": "NUKE"})


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"severity": 11}, "severity"),
        ({"confidence": 10_001}, "confidence"),
        ({"schema_version": 2}, "schema_version"),
        ({"id": ""}, "id"),
        ({"producer_id": ""}, "producer_id"),
        ({"payload_hash": "00"}, "payload_hash"),
        ({"pubkey": "00" * 31}, "pubkey"),
        ({"signature": "00" * 63}, "signature"),
    ],
)
def test_check_limits_rejects(over: dict[str, Any], field: str) -> None:
    with pytest.raises(FieldError) as err:
        check_limits(anomaly(**over))
    assert err.value.field == field


def test_check_limits_accepts_the_edges() -> None:
    check_limits(anomaly(severity=10, confidence=10_000))
    check_limits(anomaly(severity=0, confidence=0))


def test_policy_limits() -> None:
    base = {"schema_version": 1, "id": "po", "rule": "r", "producer_id": "p"}
    with pytest.raises(FieldError, match="UNSPECIFIED"):
        check_limits(from_fields(ai_pb2.Policy, base))
    unsorted = from_fields(
        ai_pb2.Policy,
        {**base, "action": "POLICY_ACTION_QUARANTINE", "params": [{"key": "b"}, {"key": "a"}]},
    )
    with pytest.raises(FieldError, match="ascending"):
        check_limits(unsorted)


def test_parse_field_arg_reads_by_type() -> None:
    assert parse_field_arg(ai_pb2.Anomaly, "severity=7") == ("severity", 7)
    assert parse_field_arg(ai_pb2.Anomaly, "source=a=b") == ("source", "a=b")
    assert parse_field_arg(ai_pb2.Evidence, "refs=a1,a2") == ("refs", ["a1", "a2"])
    assert parse_field_arg(ai_pb2.Policy, 'params=[{"key":"k"}]') == ("params", [{"key": "k"}])
    with pytest.raises(FieldError, match="decimal integer"):
        parse_field_arg(ai_pb2.Anomaly, "severity=high")
    with pytest.raises(FieldError, match="unknown field"):
        parse_field_arg(ai_pb2.Anomaly, "sevrity=7")
    with pytest.raises(FieldError, match="name=value"):
        parse_field_arg(ai_pb2.Anomaly, "severity")
