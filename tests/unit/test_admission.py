"""Admission core: one test per reject reason, order of checks, state rules."""

from __future__ import annotations

import hashlib

import pytest

from cybermesh.admission import (
    Admission,
    Admitted,
    Candidate,
    Reason,
    Rejected,
    State,
    replay_key,
    rules_for,
    verify_candidates,
)
from cybermesh.proto.v1 import ai_pb2
from cybermesh.wire import topics
from cybermesh.wire.strict import encode
from tests.admission_kit import NOW, anomaly, make_genesis, signed, valid

A, E, P = topics.ANOMALIES, topics.EVIDENCE, topics.POLICY
SKEW = 60_000
CAPS = {A: 4096, E: 4096, P: 2048}


def make_admission(rate: int = 1000, burst: int = 1000) -> Admission:
    return Admission(make_genesis(), rules_for(SKEW, rate, burst, CAPS))


def reason_of(decision: Admitted | Rejected) -> str:
    return "admitted" if isinstance(decision, Admitted) else decision.reason.value


def admit1(raw: bytes, topic: str = A, now: int = NOW, state: State | None = None) -> str:
    return reason_of(make_admission().admit(topic, raw, now, state or State()))


@pytest.mark.parametrize("topic", topics.AI_TOPICS)
def test_a_valid_record_of_each_topic_is_admitted(topic: str) -> None:
    raw = valid(topic)
    decision = make_admission().admit(topic, raw, NOW, State())
    assert isinstance(decision, Admitted)
    assert decision.raw == raw
    assert decision.tx_hash == hashlib.sha256(raw).digest()
    assert decision.kind == topics.TX_KIND_BY_TOPIC[topic]
    assert decision.expires_ms == NOW + 2 * SKEW


def test_anomaly_score_is_severity_times_confidence() -> None:
    decision = make_admission().admit(A, valid(A, severity=3, confidence=100), NOW, State())
    assert isinstance(decision, Admitted) and decision.score == 300


@pytest.mark.parametrize(
    ("raw", "topic", "reason"),
    [
        (valid(A), "ai.other.v1", "unknown_topic"),
        (valid(A, payload=b"x" * 5000), A, "oversize"),
        (b"\xff\xff\xff", A, "undecodable"),
        (valid(A) + b"\xf8\x07\x01", A, "unknown_fields"),  # field 127 varint
        (valid(A, schema_version=2), A, "unsupported_version"),
        (valid(A, severity=11), A, "bad_schema"),
        (valid(A, confidence=10_001), A, "bad_schema"),
        (valid(A, id=""), A, "bad_schema"),
        (valid(A, payload_hash=b"\x00" * 32), A, "bad_payload_hash"),
        (valid(A, ts=NOW - SKEW - 1), A, "stale"),
        (valid(A, ts=NOW + SKEW + 1), A, "future"),
        (signed(A, anomaly(producer_id="ghost")), A, "unknown_producer"),
        (valid(E), A, "undecodable"),
        (signed(A, anomaly(producer_id="ana-1")), A, "producer_not_allowed"),
        (signed(A, anomaly(), key_number=2), A, "key_mismatch"),
        (valid(E, refs=[]), E, "bad_schema"),
        (valid(E, refs=["x", "x"]), E, "bad_schema"),
        (valid(P, action=0), P, "bad_schema"),
        (valid(P, action=99), P, "bad_schema"),
        (
            valid(P, params=[ai_pb2.PolicyParam(key="b"), ai_pb2.PolicyParam(key="a")]),
            P,
            "bad_schema",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_each_bad_record_gets_its_reason(raw: bytes, topic: str, reason: str) -> None:
    assert admit1(raw, topic) == reason


def test_evidence_bytes_on_the_anomaly_topic_are_not_silently_accepted() -> None:
    # Evidence field numbers overlap Anomaly's with other wire types; must never be admitted.
    assert admit1(valid(E), A) != "admitted"


def test_non_canonical_encoding_is_rejected() -> None:
    msg = anomaly()
    raw = signed(A, msg)
    # Re-encode field 1 (schema_version=1) with a redundant 2-byte varint: same message, new bytes.
    assert raw[:2] == b"\x08\x01"
    assert admit1(b"\x08\x81\x00" + raw[2:]) == "non_canonical"


def test_bad_signature() -> None:
    msg = anomaly()
    signed(A, msg)
    sig = bytearray(msg.signature)
    sig[0] ^= 1
    msg.signature = bytes(sig)
    assert admit1(encode(msg)) == "bad_signature"


def test_a_signature_for_another_topic_is_bad() -> None:
    msg = anomaly(producer_id="all-1")
    signed(E, msg)  # domain-separated: signed for the evidence topic
    assert admit1(encode(msg), A) == "bad_signature"


def test_same_bytes_again_are_a_duplicate_and_other_bytes_with_the_nonce_a_replay() -> None:
    adm, state = make_admission(), State()
    first = valid(A, nonce=5)
    assert reason_of(adm.admit(A, first, NOW, state)) == "admitted"
    assert reason_of(adm.admit(A, first, NOW + 1, state)) == "duplicate"
    assert reason_of(adm.admit(A, valid(A, nonce=5, severity=1), NOW + 1, state)) == "replay"
    assert state.replay.is_seen(replay_key("det-1", 5), NOW + 2 * SKEW - 1)


def test_the_replay_cache_forgets_after_two_skews() -> None:
    adm, state = make_admission(), State()
    assert reason_of(adm.admit(A, valid(A, nonce=5, ts=NOW), NOW, state)) == "admitted"
    later = NOW + 2 * SKEW
    # ts is now stale anyway: the window is exactly as long as a message can be fresh.
    assert reason_of(adm.admit(A, valid(A, nonce=5, ts=later), later, state)) == "admitted"


def test_a_forged_message_leaves_no_state() -> None:
    adm, state = make_admission(rate=1, burst=1), State()
    forged = anomaly(nonce=9)
    signed(A, forged)
    forged.signature = bytes(64)
    assert reason_of(adm.admit(A, encode(forged), NOW, state)) == "bad_signature"
    assert not state.replay.is_seen(replay_key("det-1", 9), NOW)
    assert state.buckets == {}
    assert reason_of(adm.admit(A, valid(A, nonce=9), NOW, state)) == "admitted"


def test_a_burst_beyond_the_bucket_is_rate_limited_then_refills() -> None:
    adm, state = make_admission(rate=10, burst=3), State()
    got = [reason_of(adm.admit(A, valid(A, nonce=n), NOW, state)) for n in range(1, 6)]
    assert got == ["admitted"] * 3 + ["rate_limited"] * 2
    # 100 ms at 10 tokens/s refills one token.
    assert reason_of(adm.admit(A, valid(A, nonce=7), NOW + 100, state)) == "admitted"
    assert reason_of(adm.admit(A, valid(A, nonce=8), NOW + 100, state)) == "rate_limited"


def test_buckets_are_per_producer() -> None:
    adm, state = make_admission(rate=1, burst=1), State()
    assert reason_of(adm.admit(A, valid(A, nonce=1), NOW, state)) == "admitted"
    assert reason_of(adm.admit(A, valid(A, nonce=2), NOW, state)) == "rate_limited"
    other = signed(A, anomaly(producer_id="all-1"))
    assert reason_of(adm.admit(A, other, NOW, state)) == "admitted"


def test_cheap_checks_come_first() -> None:
    # Oversize wins over everything, stale over unknown producer, unknown producer over signature.
    big_stale_ghost = signed(A, anomaly(producer_id="ghost", ts=1, payload=b"x" * 5000))
    assert admit1(big_stale_ghost) == "oversize"
    assert admit1(signed(A, anomaly(producer_id="ghost", ts=NOW - SKEW - 1))) == "stale"
    ghost = anomaly(producer_id="ghost")
    signed(A, ghost)
    ghost.signature = bytes(64)
    assert admit1(encode(ghost)) == "unknown_producer"


def test_admit_batch_equals_admit_in_turn() -> None:
    raws = [valid(A, nonce=1), valid(A, nonce=1), b"junk", valid(A, nonce=2, severity=99)]
    adm = make_admission()
    s1, s2 = State(), State()
    batch = adm.admit_batch(A, raws, NOW, s1)
    single = [adm.admit(A, r, NOW, s2) for r in raws]
    assert batch == single
    assert [reason_of(d) for d in batch] == ["admitted", "duplicate", "undecodable", "bad_schema"]


def test_admit_never_raises_on_non_bytes() -> None:
    decision = make_admission().admit(A, None, NOW, State())  # type: ignore[arg-type]
    assert isinstance(decision, Rejected) and decision.reason is Reason.INTERNAL


def test_rules_need_a_cap_per_topic() -> None:
    with pytest.raises(ValueError, match="no size cap"):
        rules_for(SKEW, 1, 1, {A: 1})


def test_precheck_verify_finish_equals_admit_in_turn() -> None:
    # the agent's split path (checks 1-9, verify elsewhere, checks 10-13 in order)
    forged = anomaly(nonce=3)
    signed(A, forged)
    forged.signature = bytes(64)
    raws = [
        valid(A, nonce=1),
        valid(A, nonce=1),
        encode(forged),
        valid(A, nonce=3),
        valid(A, nonce=1, severity=1),
        b"junk",
        valid(A, nonce=4),
        valid(A, nonce=5),
    ]
    adm = make_admission(rate=1, burst=3)
    s1, s2 = State(), State()
    expected = [adm.admit(A, r, NOW, s1) for r in raws]
    checked = [adm.precheck(A, r, NOW) for r in raws]
    candidates = [c for c in checked if isinstance(c, Candidate)]
    verified = iter(verify_candidates(candidates))
    got = [
        c if isinstance(c, Rejected) else adm.finish(c, next(verified), NOW, s2) for c in checked
    ]
    assert got == expected
    assert [reason_of(d) for d in got] == [
        "admitted",
        "duplicate",
        "bad_signature",
        "admitted",
        "replay",
        "undecodable",
        "admitted",
        "rate_limited",
    ]


def test_batch_verification_agrees_with_pynacl_on_good_and_bad_signatures() -> None:
    """verify_candidates (one libsodium scratch buffer per call) decides exactly as PyNaCl's
    checked crypto_sign_open, including odd lengths, and shares nothing between threads."""
    import concurrent.futures

    import nacl.bindings
    import nacl.exceptions
    import nacl.signing

    from cybermesh.admission import verify_candidates
    from cybermesh.admission.decision import Candidate

    key = nacl.signing.SigningKey(bytes(range(32)))
    other = nacl.signing.SigningKey(bytes(range(1, 33)))
    pk = bytes(key.verify_key)

    def cand(pubkey: bytes, msg: bytes, sig: bytes) -> Candidate:
        return Candidate("t", b"", b"", "p", 0, 0, 0, pubkey, sig, msg)

    msgs = [b"", b"a", b"x" * 300, bytes(range(256)) * 40]
    cases = []
    for m in msgs:
        sig = key.sign(m).signature
        cases += [
            cand(pk, m, sig),  # good
            cand(pk, m + b"!", sig),  # message changed
            cand(pk, m, sig[:-1] + bytes([sig[-1] ^ 1])),  # signature changed
            cand(bytes(other.verify_key), m, sig),  # another key
            cand(pk[:31], m, sig),  # short key
            cand(pk, m, sig[:63]),  # short signature
            cand(pk, m, b""),
        ]

    def reference(c: Candidate) -> bool:
        try:
            nacl.bindings.crypto_sign_open(c.signature + c.signing_bytes, c.pubkey)
        except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
            return False
        return True

    want = [reference(c) for c in cases]
    assert want.count(True) == len(msgs)
    assert verify_candidates(cases) == want
    assert [verify_candidates([c])[0] for c in cases] == want
    assert verify_candidates([]) == []
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(verify_candidates, [cases] * 16))
    assert all(r == want for r in results)
