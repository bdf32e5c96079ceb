"""Helpers shared by the p2p integration tests (imported by name: no package needed)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable

import nacl.signing


def key(n: int) -> nacl.signing.SigningKey:
    """A deterministic node key."""
    return nacl.signing.SigningKey(hashlib.sha256(b"p2p-test-key/%d" % n).digest())


def payload(size: int, i: int) -> bytes:
    """The same deterministic payload the py-libp2p peer script builds."""
    seed = hashlib.sha256(f"{size}/{i}".encode()).digest()
    return (seed * (size // 32 + 1))[:size]


async def eventually(cond: Callable[[], bool], limit: float = 30.0) -> None:
    """Wait until `cond()` holds (a liveness wait, not a timing assertion)."""
    async with asyncio.timeout(limit):
        while not cond():  # noqa: ASYNC110 - polling a plain predicate
            await asyncio.sleep(0.01)
