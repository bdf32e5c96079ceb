"""The admission fast paths equal the wire contracts they replace.

1. splice.signing_bytes_of == wire.signing.signing_bytes for every valid-shaped message.
2. decode.decode_ai behaves exactly like wire.strict.decode_strict on any bytes.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cybermesh.admission.decode import decode_ai
from cybermesh.admission.splice import signing_bytes_of
from cybermesh.proto.v1 import ai_pb2
from cybermesh.wire import topics
from cybermesh.wire.signing import signing_bytes
from cybermesh.wire.strict import DecodeError, decode_strict, encode

u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)
i64 = st.integers(-(2**63), 2**63 - 1)
text = st.text(max_size=20)
blob = st.binary(max_size=80)
sig = st.one_of(st.binary(min_size=64, max_size=64), blob)
pk = st.one_of(st.binary(min_size=32, max_size=32), blob)

anomalies = st.builds(
    ai_pb2.Anomaly,
    schema_version=u32,
    id=text,
    type=text,
    source=text,
    severity=u32,
    confidence=u32,
    ts=i64,
    payload_hash=blob,
    payload=blob,
    model_version=text,
    producer_id=text,
    nonce=u64,
    signature=sig,
    pubkey=pk,
)
evidences = st.builds(
    ai_pb2.Evidence,
    schema_version=u32,
    id=text,
    evidence_type=text,
    refs=st.lists(text, max_size=4),
    proof_blob=blob,
    ts=i64,
    producer_id=text,
    nonce=u64,
    signature=sig,
    pubkey=pk,
)
params = st.builds(ai_pb2.PolicyParam, key=text, int_value=i64, str_value=text)
policies = st.builds(
    ai_pb2.Policy,
    schema_version=u32,
    id=text,
    action=st.integers(0, 6),
    rule=text,
    params=st.lists(params, max_size=3),
    ts=i64,
    producer_id=text,
    nonce=u64,
    signature=sig,
    pubkey=pk,
)
messages = st.one_of(
    st.tuples(st.just(topics.ANOMALIES), anomalies),
    st.tuples(st.just(topics.EVIDENCE), evidences),
    st.tuples(st.just(topics.POLICY), policies),
)


@settings(max_examples=500)
@given(messages)
def test_spliced_signing_bytes_equal_the_contract(pair: tuple[str, ai_pb2.Anomaly]) -> None:
    topic, msg = pair
    raw = encode(msg)
    assert signing_bytes_of(topic, raw, msg) == signing_bytes(topic, msg)


def _outcome(fn: object, cls: type, raw: bytes) -> object:
    try:
        return fn(cls, raw).SerializeToString()  # type: ignore[operator]
    except DecodeError as exc:
        return exc.reason


@st.composite
def mutated(draw: st.DrawFn) -> tuple[type, bytes]:
    _topic, msg = draw(messages)
    raw = bytearray(encode(msg))
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "append"]))
        pos = draw(st.integers(0, max(len(raw) - 1, 0)))
        if op == "flip" and raw:
            raw[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            raw[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        elif op == "delete" and raw:
            del raw[pos]
        else:
            raw += draw(st.binary(min_size=1, max_size=6))
    cls = draw(st.sampled_from([ai_pb2.Anomaly, ai_pb2.Evidence, ai_pb2.Policy]))
    return cls, bytes(raw)


@settings(max_examples=1000)
@given(mutated())
def test_fast_strict_decode_equals_decode_strict(case: tuple[type, bytes]) -> None:
    cls, raw = case
    assert _outcome(decode_ai, cls, raw) == _outcome(decode_strict, cls, raw)
