"""mTLS on the real worker web server: a validator's Faust app (create_app) serves its views
through Faust's aiohttp driver with the TLS context and middleware that cybermesh/app.py
installs. A client certificate from the configured CA gets in (and its name maps to a role);
one from another CA, or none, is refused in the TLS handshake. No broker is needed: only the
app's web service is started."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from cybermesh.app import create_app
from cybermesh.config import load_settings
from tests.admission_kit import make_genesis
from tests.api_token import api_env, token
from tests.integration.auth_tls.certs import CA, Issued
from tests.ports import free_port


class Pki:
    def __init__(self, d: Path) -> None:
        self.ca = CA("trusted", d)
        self.rogue = CA("rogue", d)
        self.server = self.ca.issue("validator", server=True)
        self.ops = self.ca.issue("ops-bot", dns=("ops.example",))
        self.viewer = self.ca.issue("dash")
        self.nobody = self.ca.issue("stranger")
        self.impostor = self.rogue.issue("ops-bot")  # same name, untrusted CA


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


async def serve(
    tmp: Path, pki: Pki, mode: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[int]:
    for name, value in api_env().items():
        monkeypatch.setenv(name, value)
    port = free_port(27500, 28000)
    settings = load_settings(
        validator_id="tls0", data_dir=tmp / "data", web_port=port, web_bind="127.0.0.1",
        consensus={"enabled": False},
        api={"auth": mode, "tls_cert": pki.server.cert, "tls_key": pki.server.key,
             "client_ca": pki.ca.pem,
             "client_roles": {"CN=ops-bot": "operator", "CN=dash": "viewer"}},
    )  # fmt: skip
    app = create_app(settings, make_genesis(), store="memory://")
    await app.web.start()
    try:
        yield port
    finally:
        await app.web.stop()


def client_context(pki: Pki, client: Issued | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki.ca.pem))
    if client is not None:
        ctx.load_cert_chain(str(client.cert), str(client.key))
    return ctx


async def get(
    port: int, ctx: ssl.SSLContext, path: str, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"https://127.0.0.1:{port}{path}", ssl=ctx, headers=headers or {}) as resp,
    ):
        body = await resp.json() if resp.content_type == "application/json" else await resp.text()
        return resp.status, (body, dict(resp.headers))


def exchange(port: int, ctx: ssl.SSLContext, tls12: bool = False) -> bytes:
    """Handshake with `ctx`, send GET /metrics, return the first bytes of the answer.

    TLS 1.2: the server judges the client certificate inside the handshake, so a refusal
    raises here before any HTTP is sent. TLS 1.3: the client's side of the handshake ends
    first; the server then drops the connection (asyncio's TLS layer sends no alert): the read
    gets EOF and no HTTP answer."""
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as conn,
    ):
        conn.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        try:
            return conn.recv(100)
        except ssl.SSLError:
            return b""


async def assert_refused_in_tls(port: int, ctx_of: Any) -> None:
    with pytest.raises(ssl.SSLError):
        await asyncio.to_thread(exchange, port, ctx_of(), True)
    assert await asyncio.to_thread(exchange, port, ctx_of(), False) == b""


async def test_mtls_trusted_client_gets_in_and_untrusted_ca_fails_the_handshake(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    async for port in serve(tmp_path, pki, "mtls", monkeypatch):
        status, (body, headers) = await get(port, client_context(pki, pki.ops), "/metrics")
        assert status == 200 and "cybermesh" in body
        assert headers["Strict-Transport-Security"].startswith("max-age=")
        status, (body, _) = await get(port, client_context(pki, pki.viewer), "/metrics")
        assert (status, body["error"]["code"]) == (403, "forbidden")  # viewer: no ops
        status, (body, _) = await get(port, client_context(pki, pki.nobody), "/mempool/")
        assert status == 403  # trusted CA, name not mapped to a role
        status, _ = await get(port, client_context(pki, pki.ops), "/mempool/?txs=0")
        assert status == 200
        for bad in (pki.impostor, None):  # untrusted CA (same CN as a trusted client); no cert
            await assert_refused_in_tls(port, lambda bad=bad: client_context(pki, bad))
        for tls12 in (True, False):  # the control: the same exchange with a trusted cert
            ok = await asyncio.to_thread(exchange, port, client_context(pki, pki.ops), tls12)
            assert ok.startswith(b"HTTP/1.1 200")
        # the server still serves trusted clients afterwards
        assert (await get(port, client_context(pki, pki.ops), "/metrics"))[0] == 200


async def test_mode_both_takes_a_certificate_or_a_token_over_tls(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    async for port in serve(tmp_path, pki, "both", monkeypatch):
        no_cert = client_context(pki, None)
        assert (await get(port, no_cert, "/metrics"))[0] == 401
        status, _ = await get(
            port, no_cert, "/metrics", {"Authorization": f"Bearer {token('operator')}"}
        )
        assert status == 200
        assert (await get(port, client_context(pki, pki.ops), "/metrics"))[0] == 200
        await assert_refused_in_tls(port, lambda: client_context(pki, pki.impostor))
        ok = await asyncio.to_thread(exchange, port, client_context(pki, None), True)
        assert ok.startswith(
            b"HTTP/1.1 401"
        )  # no certificate is fine in mode both: no token -> 401
