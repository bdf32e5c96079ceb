"""Fuzz campaign: random and mutated records through the admission core.

Every record must get a decision (Admitted, or Rejected with a documented reason other than
`internal`), and no exception may escape. The normal run is a seeded slice of 5,000 records;
the full campaign (>= 100,000) is

    CYBERMESH_FUZZ_N=100000 .venv/bin/python -m pytest -q -m slow tests/property/test_admission_fuzz.py

(the `slow` test defaults to 100,000 records).
"""

from __future__ import annotations

import os
import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cybermesh.admission import Admission, Admitted, Reason, Rejected, State, rules_for
from cybermesh.wire import topics
from tests.admission_kit import NOW, make_genesis, valid

CAPS = {topics.ANOMALIES: 4096, topics.EVIDENCE: 4096, topics.POLICY: 2048}


def seeds() -> list[tuple[str, bytes]]:
    out = []
    for topic in topics.AI_TOPICS:
        for n in range(1, 6):
            out.append((topic, valid(topic, nonce=n, ts=NOW + n)))
    return out


def mutate(rnd: random.Random, raw: bytes, corpus: list[tuple[str, bytes]]) -> bytes:
    data = bytearray(raw)
    for _ in range(rnd.randint(1, 4)):
        op = rnd.randrange(9)
        pos = rnd.randrange(len(data) + 1)
        if op == 0 and data:  # bit flip
            data[min(pos, len(data) - 1)] ^= 1 << rnd.randrange(8)
        elif op == 1:  # insert random bytes
            data[pos:pos] = rnd.randbytes(rnd.randint(1, 8))
        elif op == 2:  # delete a run
            del data[pos : pos + rnd.randint(1, 8)]
        elif op == 3:  # truncate
            del data[pos:]
        elif op == 4:  # splice with another record
            other = rnd.choice(corpus)[1]
            data = data[:pos] + other[rnd.randrange(len(other)) :]
        elif op == 5:  # interesting byte
            if data:
                data[min(pos, len(data) - 1)] = rnd.choice([0x00, 0x7F, 0x80, 0xFF, 0x08, 0x12])
        elif op == 6:  # append an unknown / repeated field
            data += rnd.choice([b"\xf8\x07\x01", b"\x08\x02", b"\x12\x00", b"\x7a\x01x"])
        elif op == 7:  # huge length prefix
            data[pos:pos] = b"\x12\xff\xff\xff\xff\x0f"
        else:  # duplicate a slice
            data[pos:pos] = data[pos : pos + rnd.randint(1, 16)]
    return bytes(data)


def mutate_field(rnd: random.Random, topic: str, raw: bytes) -> bytes:
    """Decode a valid record, change one field to a random value of its type, re-encode."""
    msg = topics.MESSAGE_TYPES[topic]()
    msg.ParseFromString(raw)
    field = rnd.choice(msg.DESCRIPTOR.fields)
    if field.type == field.TYPE_MESSAGE or field.is_repeated:
        msg.ClearField(field.name)
    elif field.type in (field.TYPE_STRING,):
        setattr(msg, field.name, rnd.choice(["", "x", "det-1", "all-1", "é" * 70, "a" * 200]))
    elif field.type == field.TYPE_BYTES:
        setattr(msg, field.name, rnd.randbytes(rnd.choice([0, 1, 31, 32, 33, 64, 65])))
    elif field.type in (field.TYPE_INT64, field.TYPE_SINT64):
        setattr(msg, field.name, rnd.choice([0, -1, NOW, NOW - 61_000, NOW + 61_000, 2**63 - 1]))
    elif field.type == field.TYPE_ENUM:
        setattr(msg, field.name, rnd.choice([0, 1, 4, 5, 1000]))
    else:
        setattr(msg, field.name, rnd.choice([0, 1, 10, 11, 10_000, 10_001, 2**32 - 1]))
    return msg.SerializeToString(deterministic=True)


def run_campaign(n: int, seed: int) -> Counter[str]:
    rnd = random.Random(seed)
    corpus = seeds()
    adm = Admission(make_genesis(), rules_for(60_000, 1_000_000, 1_000_000, CAPS))
    state = State()
    reasons: Counter[str] = Counter()
    for i in range(n):
        kind = rnd.random()
        topic, raw = rnd.choice(corpus)
        if kind < 0.05:
            raw = rnd.randbytes(rnd.randint(0, 300))
        elif kind < 0.10:
            pass  # an unmutated record: admitted once, then duplicate
        elif kind < 0.45:
            raw = mutate_field(rnd, topic, raw)
        else:
            raw = mutate(rnd, raw, corpus)
        if rnd.random() < 0.05:
            topic = rnd.choice(topics.AI_TOPICS)  # cross-topic bytes
        decision = adm.admit(topic, raw, NOW + i // 10, state)
        if isinstance(decision, Admitted):
            reasons["admitted"] += 1
        else:
            assert isinstance(decision, Rejected)
            assert decision.reason is not Reason.INTERNAL, (raw.hex(), decision.detail)
            assert decision.reason in Reason
            reasons[decision.reason.value] += 1
    assert sum(reasons.values()) == n
    return reasons


def test_fuzz_slice() -> None:
    reasons = run_campaign(5_000, seed=20261125)
    # the campaign exercises the decoder's and the verifier's reasons, not only one
    assert {"undecodable", "bad_signature", "admitted", "duplicate"} <= set(reasons)


@pytest.mark.slow
def test_fuzz_campaign() -> None:
    n = int(os.environ.get("CYBERMESH_FUZZ_N", "100000"))
    reasons = run_campaign(n, seed=int(os.environ.get("CYBERMESH_FUZZ_SEED", "7")))
    print(dict(sorted(reasons.items())))


@settings(max_examples=300)
@given(st.sampled_from(topics.AI_TOPICS), st.binary(max_size=600))
def test_arbitrary_bytes_get_a_reason(topic: str, raw: bytes) -> None:
    adm = Admission(make_genesis(), rules_for(60_000, 10, 10, CAPS))
    decision = adm.admit(topic, raw, NOW, State())
    assert isinstance(decision, Rejected) and decision.reason is not Reason.INTERNAL
