"""Fixtures for the p2p integration tests: a py-libp2p peer in a subprocess, key helpers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

PEER_SCRIPT = Path(__file__).with_name("pylibp2p_peer.py")


class PyPeer:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.ready: dict[str, Any] = {}

    async def line(self, limit: float = 60.0) -> dict[str, Any]:
        assert self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), limit)
        if not raw:
            raise EOFError("py-libp2p peer exited")
        return json.loads(raw)


@pytest.fixture
def pylibp2p() -> Callable[..., contextlib.AbstractAsyncContextManager[PyPeer]]:
    @contextlib.asynccontextmanager
    async def start(mode: str, seed: bytes, *args: str) -> AsyncIterator[PyPeer]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(PEER_SCRIPT),
            mode,
            "--seed",
            seed.hex(),
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        peer = PyPeer(proc)
        try:
            peer.ready = await peer.line()
            assert peer.ready["event"] == "ready"
            yield peer
        finally:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()

    return start
