"""Property: the JSON form round-trips every ai.* message, and signed messages open."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cybermesh.proto.v1 import ai_pb2
from cybermesh.wire.fields import from_fields, to_fields
from cybermesh.wire.record import open_record
from cybermesh.wire.signing import key_from_seed, payload_hash, sign
from cybermesh.wire.strict import encode
from cybermesh.wire.topics import ANOMALIES, EVIDENCE

text = st.text(max_size=20)
u64 = st.integers(0, 2**64 - 1)
i64 = st.integers(-(2**63), 2**63 - 1)

anomalies = st.builds(
    ai_pb2.Anomaly,
    schema_version=st.just(1),
    id=text.filter(bool),
    type=text,
    source=text,
    severity=st.integers(0, 10),
    confidence=st.integers(0, 10_000),
    ts=i64,
    payload=st.binary(max_size=64),
    model_version=text,
    producer_id=text.filter(bool),
    nonce=u64,
)
evidences = st.builds(
    ai_pb2.Evidence,
    schema_version=st.just(1),
    id=text.filter(bool),
    evidence_type=text,
    refs=st.lists(text, max_size=4),
    proof_blob=st.binary(max_size=64),
    ts=i64,
    producer_id=text.filter(bool),
    nonce=u64,
)


@settings(max_examples=60, deadline=None)
@given(msg=anomalies, seed=st.binary(min_size=32, max_size=32))
def test_anomaly_round_trips_and_opens(msg: ai_pb2.Anomaly, seed: bytes) -> None:
    msg.payload_hash = payload_hash(msg.payload)
    sign(ANOMALIES, msg, key_from_seed(seed))
    assert from_fields(ai_pb2.Anomaly, to_fields(msg)) == msg
    assert open_record(ANOMALIES, encode(msg)) == msg


@settings(max_examples=60, deadline=None)
@given(msg=evidences, seed=st.binary(min_size=32, max_size=32))
def test_evidence_round_trips_and_opens(msg: ai_pb2.Evidence, seed: bytes) -> None:
    sign(EVIDENCE, msg, key_from_seed(seed))
    assert from_fields(ai_pb2.Evidence, to_fields(msg)) == msg
    assert open_record(EVIDENCE, encode(msg)) == msg
