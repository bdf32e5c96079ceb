"""Ed25519 verification: one acceptance rule, two implementations (docs/SIGNING.md §Verification).

The rule is libsodium's `crypto_sign_verify_detached` (PyNaCl's build, without ED25519_COMPAT):
S < L; R and the public key are not encodings of small-order points; the key's y is canonical
and decodes to a curve point; the canonical encoding of [S]B - [k]A equals R byte for byte
(cofactorless). Every validator must take the same decision on every signature (a tx a node
admitted is not verified again when it executes the block), so both implementations accept
exactly the same set, and the differential tests (tests/unit/test_ed25519_backends.py) hold
them to it, edge cases included.

- `native`: the project's `cybermesh_native` extension (native/, ed25519-dalek arithmetic with
  AVX2 chosen at run time; built by scripts/install): ~1.8x libsodium's rate here.
- `libsodium`: PyNaCl, the reference. Used when the extension is not installed (a warning
  names it at worker start; `cybermesh_ed25519_backend` says which one runs).

The rule is the six steps of docs/SIGNING.md §8 (libsodium 1.0.18-1.0.22's semantics, PyNaCl
1.6.2 bundles 1.0.20), not "whatever libsodium does": libsodium's unreleased master accepts
more (a cofactored check). `self_check()` runs vectors that tell the two apart through the
backend in use; a worker refuses to start if one fails (cybermesh.startup).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

import nacl.bindings
import nacl.exceptions

PUBKEY_LEN: Final = 32
SIGNATURE_LEN: Final = 64


def verify_libsodium(pubkey: bytes, message: bytes, signature: bytes) -> bool:
    """The reference: libsodium (crypto_sign_open); False on any malformed input."""
    if len(pubkey) != PUBKEY_LEN or len(signature) != SIGNATURE_LEN:
        return False
    try:
        nacl.bindings.crypto_sign_open(signature + message, pubkey)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
        return False
    return True


def verify_many_libsodium(
    pubkeys: Sequence[bytes], messages: Sequence[bytes], signatures: Sequence[bytes]
) -> list[bool]:
    return [verify_libsodium(k, m, s) for k, m, s in zip(pubkeys, messages, signatures, strict=True)]


try:
    import cybermesh_native as _native
except ImportError:  # pragma: no cover - the project's install builds it
    _native = None  # type: ignore[assignment]

BACKEND: Final[str] = "native" if _native is not None else "libsodium"
"""Which implementation `verify` and `verify_many` use in this process."""


Verify = Callable[[bytes, bytes, bytes], bool]
VerifyMany = Callable[[Sequence[bytes], Sequence[bytes], Sequence[bytes]], list[bool]]

verify: Verify
"""Ed25519 under the rule above; False on any malformed input."""
verify_many: VerifyMany
"""`verify` at each index (the three sequences have one length). Native: one call, the GIL
released, decoded keys cached between calls."""

if _native is not None:
    verify, verify_many = _native.verify, _native.verify_many
else:  # pragma: no cover
    verify, verify_many = verify_libsodium, verify_many_libsodium


#: (what it checks, pubkey hex, message hex, signature hex, accepted by the rule). Built with
#: exact curve arithmetic (tests/edwards25519.py; the seed 07 x 32); each discriminates a rule.
SELF_CHECK: Final = (
    ("valid signature", "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c", "63796265726d65736820656432353531392073656c662d636865636b", "fe850c606d8809c58b2203fe9c56594ba334c3c5574bd2c71a992a0ef58d9ec3ff734cb38878d3ccaad596424217a4e89b29f52b8c65a08531babcfcf7890f0f", True),
    ("R = identity, S = k*a (rule 3)", "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c", "63796265726d65736820656432353531392073656c662d636865636b", "0100000000000000000000000000000000000000000000000000000000000000ce42546177aea09dc32e7a62b19171bd96b715cc24d61a9daab1d1f3f7ab2509", False),
    ("identity key (rule 4)", "0100000000000000000000000000000000000000000000000000000000000000", "63796265726d65736820656432353531392073656c662d636865636b", "ef4f62f8479733ad879cfaced3c89a9c39dd4fc795ef2efa1c3eafe4d729a0813930000000000000000000000000000000000000000000000000000000000000", False),
    ("mixed-order key, 8 | k: the cofactorless equation holds", "1f4f580e73ac208f06760190e9edc6f5916775dabd9c1cdca393175c2d6d1083", "6d697865642030", "7db0dc9222f3c183457ddde4c708de8e5ea6bf3d5c4404cca14b32729a05c32a1b0e30bc418208d004710e189e71fa0e93ef17762e6fea48bdf437ab8ad17f0c", True),
    ("mixed-order key, 8 does not divide k (a cofactored verifier accepts)", "1f4f580e73ac208f06760190e9edc6f5916775dabd9c1cdca393175c2d6d1083", "6d697865642031", "7db0dc9222f3c183457ddde4c708de8e5ea6bf3d5c4404cca14b32729a05c32a8ffbb1e997c9e38149bba04b525d1caa32a4150e831a93209feb37d97d856904", False),
    ("S + L (rule 2)", "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c", "63796265726d65736820656432353531392073656c662d636865636b", "fe850c606d8809c58b2203fe9c56594ba334c3c5574bd2c71a992a0ef58d9ec3ec474210a3dbe52481728ee5201183fd9b29f52b8c65a08531babcfcf7890f1f", False),
)  # fmt: skip


def self_check(check: Verify | None = None) -> list[str]:
    """The SELF_CHECK vectors that `check` (default: `verify`, the backend in use) decides
    against the rule; [] when it follows the rule."""
    fn = check if check is not None else verify
    return [
        what
        for what, pk, message, signature, want in SELF_CHECK
        if fn(bytes.fromhex(pk), bytes.fromhex(message), bytes.fromhex(signature)) is not want
    ]
