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
