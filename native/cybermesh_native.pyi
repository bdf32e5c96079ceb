"""Ed25519 verification with libsodium's acceptance rules (native/src/lib.rs)."""

from collections.abc import Sequence

BACKEND: str

def verify(pubkey: bytes, message: bytes, signature: bytes) -> bool: ...
def verify_many(
    pubkeys: Sequence[bytes], messages: Sequence[bytes], signatures: Sequence[bytes]
) -> list[bool]: ...
