"""The native Ed25519 verifier accepts exactly what libsodium accepts (cybermesh/wire/ed25519.py).

Consensus depends on it: a node does not verify again the txs it admitted, so if the two
implementations disagreed on one signature, two validators could execute one block differently.
Besides valid signatures and random mutations, each edge case of the Ed25519 acceptance rules
where implementations are known to differ is built with exact curve arithmetic
(tests/edwards25519.py) and both verifiers must give the same answer: small-order R and A (every
encoding, sign bit set or not, canonical or not), non-canonical A, S >= L, A not on the curve,
and mixed-order keys, where the cofactorless equation holds for some messages only.
"""

from __future__ import annotations

import hashlib
import os

import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cybermesh.wire import ed25519
from tests import edwards25519 as ed

native = pytest.importorskip("cybermesh_native", reason="scripts/install builds the extension")

SEED = b"\x07" * 32
KEY = nacl.signing.SigningKey(SEED)
PK = bytes(KEY.verify_key)


def both(pk: bytes, message: bytes, sig: bytes) -> bool:
    """The common answer of the two verifiers; fails the test if they differ."""
    reference = ed25519.verify_libsodium(pk, message, sig)
    assert native.verify(pk, message, sig) is reference, (pk.hex(), message.hex(), sig.hex())
    assert native.verify_many([pk], [message], [sig]) == [reference]
    return reference


def test_the_extension_is_the_backend_in_use() -> None:
    # the project's install builds it: running on the fallback would hide a broken build
    assert ed25519.BACKEND == "native"
    assert ed25519.verify is native.verify


def test_valid_signatures_verify() -> None:
    for i in range(200):
        message = os.urandom(i)
        assert both(PK, message, KEY.sign(message).signature)


def test_verify_many_answers_per_index() -> None:
    keys = [nacl.signing.SigningKey(bytes([i]) * 32) for i in range(1, 6)]
    pks, messages, sigs, want = [], [], [], []
    for i in range(300):
        key = keys[i % len(keys)]
        message = hashlib.sha256(i.to_bytes(4, "big")).digest() * (i % 7)
        sig = key.sign(message).signature
        if i % 3 == 0:
            sig = sig[:10] + bytes([sig[10] ^ 1]) + sig[11:]
        pks.append(bytes(key.verify_key))
        messages.append(message)
        sigs.append(sig)
        want.append(i % 3 != 0)
    assert native.verify_many(pks, messages, sigs) == want
    assert ed25519.verify_many_libsodium(pks, messages, sigs) == want
    with pytest.raises(ValueError, match="differ in length"):
        native.verify_many(pks, messages[:-1], sigs)


@settings(max_examples=3000, deadline=None)
@given(
    message=st.binary(max_size=64),
    where=st.sampled_from(["pk", "sig", "message"]),
    index=st.integers(min_value=0, max_value=95),
    bit=st.integers(min_value=0, max_value=7),
)
def test_one_flipped_bit_is_decided_alike(message: bytes, where: str, index: int, bit: int) -> None:
    sig = KEY.sign(message).signature
    pk = PK
    if where == "pk":
        pk = _flip(pk, index % 32, bit)
    elif where == "sig":
        sig = _flip(sig, index % 64, bit)
    elif message:
        message = _flip(message, index % len(message), bit)
    else:
        message = b"\x00"
    assert not both(pk, message, sig)


@settings(max_examples=2000, deadline=None)
@given(pk=st.binary(min_size=0, max_size=40), message=st.binary(max_size=32), sig=st.binary(max_size=70))
def test_arbitrary_bytes_are_decided_alike(pk: bytes, message: bytes, sig: bytes) -> None:
    both(pk, message, sig)


def _flip(b: bytes, i: int, bit: int) -> bytes:
    return b[:i] + bytes([b[i] ^ (1 << bit)]) + b[i + 1 :]


# ------------------------------------------------------------------ edge cases, exact arithmetic
TORSION = ed.torsion_points()


def _small_order_encodings() -> list[bytes]:
    """Every 32-byte encoding of a small-order point: each y with both sign bits, and the
    non-canonical y + p where it fits in 255 bits."""
    out = []
    for t in TORSION:
        y = t[1]
        for yy in {y, y + ed.P} if y + ed.P < 2**255 else {y}:
            out += [ed.encode_y(yy, 0), ed.encode_y(yy, 1)]
    return sorted(set(out))


SMALL = _small_order_encodings()


def test_there_are_fourteen_small_order_encodings() -> None:
    # 5 ys (0, 1, p-1 and the two of order 8) x 2 sign bits + (p, p+1) x 2 sign bits
    assert len({t[1] for t in TORSION}) == 5
    assert len(SMALL) == 14


@pytest.mark.parametrize("r_enc", SMALL, ids=lambda b: b.hex()[:8] + b.hex()[-2:])
def test_small_order_r_encodings_are_rejected_alike(r_enc: bytes) -> None:
    # every small-order R encoding, under the real key and under small-order keys; these alone
    # do not need rule 3 (the equation fails, or rule 4 refuses the key): the next test does
    a = ed.secret_scalar(SEED)
    assert not both(PK, b"m", r_enc + (a % ed.L).to_bytes(32, "little"))
    for pk in SMALL:
        assert not both(pk, b"m", r_enc + bytes(32))


def test_small_order_r_that_satisfies_the_equation_is_rejected_alike() -> None:
    # R = the identity and s = k·a: [s]B - [k]A is the identity, so the cofactorless equation
    # holds byte for byte; only the small-order check on R refuses it (libsodium does)
    a = ed.secret_scalar(SEED)
    identity = ed.encode(ed.IDENTITY)
    for i in range(4):
        message = b"id %d" % i
        k = ed.challenge(identity, PK, message)
        assert not both(PK, message, identity + (k * a % ed.L).to_bytes(32, "little"))
    # under a mixed-order key A' = aB + T the recomputed R is -[k]T: any small-order point
    t8 = next(t for t in TORSION if ed.order_of_torsion(t) == 8)
    pk = ed.encode(ed.add(ed.mul(a, ed.BASE), t8))
    hits = 0
    for i in range(200):
        message = b"t8 %d" % i
        for r_point in TORSION:
            r_enc = ed.encode(r_point)
            k = ed.challenge(r_enc, pk, message)
            if ed.mul((-k) % 8, t8) == r_point:
                hits += 1
                assert not both(pk, message, r_enc + (k * a % ed.L).to_bytes(32, "little"))
    assert hits


@pytest.mark.parametrize("pk", SMALL, ids=lambda b: b.hex()[:8] + b.hex()[-2:])
def test_small_order_keys_are_rejected_alike(pk: bytes) -> None:
    # with A of small order and R = [s]B the cofactorless equation holds whenever [k]A = 0,
    # so an implementation without the small-order check accepts some of these
    r = 12345
    r_enc = ed.encode(ed.mul(r, ed.BASE))
    for i in range(16):
        message = i.to_bytes(2, "big")
        assert not both(pk, message, r_enc + r.to_bytes(32, "little"))


def test_non_canonical_s_is_rejected_alike() -> None:
    message = b"malleable"
    sig = KEY.sign(message).signature
    s = int.from_bytes(sig[32:], "little")
    assert both(PK, message, sig)
    assert not both(PK, message, sig[:32] + (s + ed.L).to_bytes(32, "little"))
    assert not both(PK, message, sig[:32] + (s | (1 << 255)).to_bytes(32, "little"))
    assert not both(PK, message, sig[:32] + ed.L.to_bytes(32, "little"))


def test_non_canonical_key_encodings_are_rejected_alike() -> None:
    # y in p..2^255-1 with a point on the curve: the same point as y - p, encoded non-canonically.
    # NOTE: no input tells rule 4's canonical-y half apart here (a signature that verifies under
    # such a key would need the discrete log of a point with y < 19); the Rust unit test checks
    # `is_canonical_encoding` itself. These keys are refused alike, whatever the signature.
    found = 0
    for t in range(19):
        for sign in (0, 1):
            pk = ed.encode_y(ed.P + t, sign)
            point = ed.decode(pk)
            if point is None:
                assert not both(pk, b"x", bytes(64))
                continue
            found += 1
            assert not both(pk, b"x", KEY.sign(b"x").signature)
    assert found


def test_keys_off_the_curve_are_rejected_alike() -> None:
    off = [ed.encode_y(y) for y in range(2, 200) if ed.decode(ed.encode_y(y)) is None]
    assert len(off) > 50
    sig = KEY.sign(b"x").signature
    for pk in off:
        assert not both(pk, b"x", sig)


def test_mixed_order_key_is_decided_alike() -> None:
    # A' = aB + T (T of order 8) is neither small-order nor torsion-free: libsodium accepts a
    # signature under A' exactly when the cofactorless equation holds, i.e. when 8 | k
    a = ed.secret_scalar(SEED)
    a_point = ed.mul(a, ed.BASE)
    assert ed.encode(a_point) == PK
    t8 = next(t for t in TORSION if ed.order_of_torsion(t) == 8)
    pk = ed.encode(ed.add(a_point, t8))
    r = 987654321
    r_enc = ed.encode(ed.mul(r, ed.BASE))
    accepted = 0
    for i in range(64):
        message = b"mixed %d" % i
        sig = ed.sign_as(a, pk, r, r_enc, message)
        k = ed.challenge(r_enc, pk, message)
        ok = both(pk, message, sig)
        assert ok == (k % 8 == 0)
        accepted += ok
    assert 0 < accepted < 64


def test_mixed_order_r_is_decided_alike() -> None:
    # R' = rB + T: the recomputed R is torsion-free, so the bytes differ and both refuse
    a = ed.secret_scalar(SEED)
    t4 = next(t for t in TORSION if ed.order_of_torsion(t) == 4)
    r = 55555
    r_enc = ed.encode(ed.add(ed.mul(r, ed.BASE), t4))
    for i in range(8):
        message = b"r %d" % i
        assert not both(PK, message, ed.sign_as(a, PK, r, r_enc, message))


def test_signature_by_the_reference_arithmetic_verifies() -> None:
    # the helper's arithmetic is right: its signature under the real key is a normal one
    a = ed.secret_scalar(SEED)
    r = 31337
    r_enc = ed.encode(ed.mul(r, ed.BASE))
    assert both(PK, b"hello", ed.sign_as(a, PK, r, r_enc, b"hello"))


def test_self_check_vectors_hold_on_both_backends() -> None:
    assert ed25519.self_check() == []
    assert ed25519.self_check(ed25519.verify_libsodium) == []
    # a cofactored verifier (libsodium master's rule) fails the discriminating vector
    def cofactored(pk: bytes, message: bytes, sig: bytes) -> bool:
        point, r = ed.decode(pk), ed.decode(sig[:32])
        if point is None or r is None or int.from_bytes(sig[32:], "little") >= ed.L:
            return False
        k = ed.challenge(sig[:32], pk, message)
        s = int.from_bytes(sig[32:], "little")
        lhs = ed.mul(8, ed.mul(s, ed.BASE))
        rhs = ed.mul(8, ed.add(r, ed.mul(k, point)))
        small = ed.mul(8, point) == ed.IDENTITY or ed.mul(8, r) == ed.IDENTITY
        return lhs == rhs and not small
    assert "mixed-order key, 8 does not divide k (a cofactored verifier accepts)" in ed25519.self_check(cofactored)


def test_wrong_lengths_are_false() -> None:
    sig = KEY.sign(b"x").signature
    for pk, s in [(PK[:31], sig), (PK + b"\x00", sig), (PK, sig[:63]), (PK, sig + b"\x00"), (b"", b"")]:
        assert not both(pk, b"x", s)
