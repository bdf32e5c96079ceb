"""Builders for the access-control tests (the `serve` fixture is re-exported by conftest.py): keys, tokens, and a small aiohttp app behind the guard."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from cybermesh.api.auth import jwt
from cybermesh.api.auth.middleware import Guard
from cybermesh.config import ApiSettings

NOW = 1_800_000_000
AUD = "cybermesh-api"
ED = jwt.SigningKey("ed-1", "EdDSA", bytes(range(32)))

TABLE = {
    ("GET", "/api/v1/health"): "public",
    ("GET", "/api/v1/blocks"): "read",
    ("GET", "/metrics"): "ops",
    ("GET", "/slow"): "read",
}


def permission_of(method: str, path: str) -> str | None:
    return TABLE.get((method, path))


def make_token(role: str = "viewer", *, key: jwt.SigningKey = ED, sub: str = "alice",
               now: int = NOW, ttl: int = 3600, aud: str = AUD) -> str:  # fmt: skip
    return jwt.issue(key, subject=sub, role=role, audience=aud, now_s=now, ttl_s=ttl)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Clock:
    def __init__(self) -> None:
        self.s = float(NOW)
        self.ms = 1_000_000


class Harness:
    def __init__(self, client: TestClient[Any, Any], guard: Guard, clock: Clock, gate: asyncio.Event) -> None:
        self.client = client
        self.guard = guard
        self.clock = clock
        self.gate = gate
        self.entered: asyncio.Queue[str] = asyncio.Queue()


@pytest.fixture
def serve() -> Callable[..., Any]:
    """`async with serve(**api_settings) as h:` a TestClient on an app behind a Guard."""
    import contextlib

    @contextlib.asynccontextmanager
    async def _serve(**overrides: Any) -> AsyncIterator[Harness]:
        settings = {"jwt_keys": [{"kid": "ed-1", "alg": "EdDSA",
                                  "public_key": ED.verification_key().material.hex()}]}  # fmt: skip
        settings.update(overrides)
        api = ApiSettings(**settings)
        from cybermesh.api.auth.middleware import keyring

        clock = Clock()
        guard = Guard(api, keyring(api), permission_of, clock_s=lambda: clock.s,
                      monotonic_ms=lambda: clock.ms)  # fmt: skip
        gate = asyncio.Event()
        app = web.Application()
        holder: dict[str, Harness] = {}

        async def ok(request: web.Request) -> web.Response:
            return web.json_response({"ok": True, "path": request.path})

        async def slow(request: web.Request) -> web.Response:
            holder["h"].entered.put_nowait(request.path)
            await gate.wait()
            return web.json_response({"ok": True})

        for path in ("/api/v1/health", "/api/v1/blocks", "/metrics", "/hidden"):
            app.router.add_get(path, ok)
        app.router.add_get("/slow", slow)
        guard.attach(app)
        client = TestClient(TestServer(app))
        await client.start_server()
        h = Harness(client, guard, clock, gate)
        holder["h"] = h
        try:
            yield h
        finally:
            gate.set()
            await client.close()

    return _serve
