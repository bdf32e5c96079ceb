"""Slow, exact edwards25519 arithmetic for tests (RFC 8032 §5.1), to build edge-case signatures.

Test-only: affine coordinates, Python integers, no constant time. Used to make the inputs the
signature verifiers disagree on in the field (small-order and mixed-order points, non-canonical
encodings), so the native verifier can be checked against libsodium on each.
"""

from __future__ import annotations

import hashlib

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)

Point = tuple[int, int]
IDENTITY: Point = (0, 1)


def add(a: Point, b: Point) -> Point:
    (x1, y1), (x2, y2) = a, b
    t = D * x1 * x2 * y1 * y2 % P
    x3 = (x1 * y2 + x2 * y1) * pow(1 + t, P - 2, P) % P
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, P - 2, P) % P
    return (x3, y3)


def neg(a: Point) -> Point:
    return (-a[0] % P, a[1])


def mul(k: int, a: Point) -> Point:
    out, acc = IDENTITY, a
    while k:
        if k & 1:
            out = add(out, acc)
        acc = add(acc, acc)
        k >>= 1
    return out


def x_of(y: int, sign: int) -> int | None:
    """The x with this parity on the curve at y, or None (RFC 8032 §5.1.3 step 2-4)."""
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    if v * x * x % P == (-u) % P:
        x = x * SQRT_M1 % P
    elif v * x * x % P != u:
        return None
    if x == 0 and sign:
        return None
    return P - x if x & 1 != sign else x


def decode(s: bytes) -> Point | None:
    """A point from its encoding, y reduced mod p (lenient, like most decoders)."""
    n = int.from_bytes(s, "little")
    y, sign = (n & ((1 << 255) - 1)) % P, n >> 255
    x = x_of(y, sign)
    return None if x is None else (x, y)


def encode(a: Point) -> bytes:
    return (a[1] | ((a[0] & 1) << 255)).to_bytes(32, "little")


def encode_y(y: int, sign: int = 0) -> bytes:
    """Any 255-bit y (non-canonical allowed) and a sign bit, as 32 bytes."""
    return (y | (sign << 255)).to_bytes(32, "little")


BASE: Point = (x_of(4 * pow(5, P - 2, P) % P, 0) or 0, 4 * pow(5, P - 2, P) % P)


def order_of_torsion(t: Point) -> int:
    for n in (1, 2, 4, 8):
        if mul(n, t) == IDENTITY:
            return n
    raise ValueError("not a small-order point")


def torsion_points() -> list[Point]:
    """The eight small-order points: [L]·Q for a point Q whose torsion part has order 8."""
    y = 2
    while True:
        q = decode(encode_y(y))
        if q is not None:
            t8 = mul(L, q)
            if t8 != IDENTITY and order_of_torsion(t8) == 8:
                return [mul(i, t8) for i in range(8)]
        y += 1


def secret_scalar(seed: bytes) -> int:
    """The clamped scalar a of an RFC 8032 private key (its seed)."""
    h = bytearray(hashlib.sha512(seed).digest()[:32])
    h[0] &= 248
    h[31] &= 127
    h[31] |= 64
    return int.from_bytes(h, "little")


def challenge(r_enc: bytes, a_enc: bytes, message: bytes) -> int:
    return int.from_bytes(hashlib.sha512(r_enc + a_enc + message).digest(), "little") % L


def sign_as(a: int, a_enc: bytes, r: int, r_enc: bytes, message: bytes) -> bytes:
    """s for R = r·B under the key *encoding* a_enc (which may be any point, e.g. a·B + T)."""
    s = (r + challenge(r_enc, a_enc, message) * a) % L
    return r_enc + s.to_bytes(32, "little")
