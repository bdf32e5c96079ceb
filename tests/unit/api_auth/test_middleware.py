"""The access-control middleware over HTTP (aiohttp test server): 401/403/404/405/429,
request ids, security headers, the access log."""

from __future__ import annotations

import asyncio
import json
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web

from cybermesh.api.auth import jwt
from cybermesh.api.auth.middleware import Identity, Refusal, authenticate, install
from cybermesh.config import ApiSettings, ConfigError
from tests.unit.api_auth.kit import AUD, ED, NOW, bearer, make_token


async def error_of(resp: Any) -> tuple[int, str]:
    body = await resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    return resp.status, body["error"]["code"]


async def test_no_token_is_401_with_a_bearer_challenge(serve: Any) -> None:
    async with serve() as h:
        resp = await h.client.get("/api/v1/blocks")
        assert await error_of(resp) == (401, "unauthorized")
        assert resp.headers["WWW-Authenticate"] == 'Bearer realm="cybermesh"'


async def test_public_routes_need_no_token(serve: Any) -> None:
    async with serve() as h:
        resp = await h.client.get("/api/v1/health")
        assert resp.status == 200 and (await resp.json())["ok"] is True


@pytest.mark.parametrize(
    "token",
    [
        make_token(now=NOW - 7200),  # expired an hour ago
        make_token(aud="another-api"),
        make_token(key=jwt.SigningKey("ed-1", "EdDSA", b"\x07" * 32)),  # wrong key, right kid
        make_token(key=jwt.SigningKey("ed-9", "EdDSA", bytes(range(32)))),  # unknown kid
        make_token()[:-4] + "AAAA",  # tampered signature
        ".".join([make_token().split(".")[0], make_token(role="admin").split(".")[1],
                  make_token().split(".")[2]]),  # tampered payload
        "not-a-token",
    ],
    ids=["expired", "wrong_audience", "wrong_key", "unknown_kid", "tampered_sig", "tampered_payload", "garbage"],
)
async def test_bad_tokens_are_401(serve: Any, token: str) -> None:
    async with serve() as h:
        resp = await h.client.get("/api/v1/blocks", headers=bearer(token))
        assert await error_of(resp) == (401, "unauthorized")
        assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]


async def test_wrong_scheme_is_401(serve: Any) -> None:
    async with serve() as h:
        resp = await h.client.get("/api/v1/blocks", headers={"Authorization": "Basic YWxpY2U6eA=="})
        assert await error_of(resp) == (401, "unauthorized")


@pytest.mark.parametrize(
    ("role", "path", "status"),
    [("viewer", "/api/v1/blocks", 200), ("viewer", "/metrics", 403),
     ("operator", "/metrics", 200), ("operator", "/api/v1/blocks", 200),
     ("admin", "/metrics", 200), ("root", "/api/v1/blocks", 403), ("", "/api/v1/blocks", 403)],
)  # fmt: skip
async def test_roles_map_to_permissions(serve: Any, role: str, path: str, status: int) -> None:
    async with serve() as h:
        resp = await h.client.get(path, headers=bearer(make_token(role)))
        assert resp.status == status
        if status == 403:
            assert (await error_of(resp)) == (403, "forbidden")


async def test_custom_role_map(serve: Any) -> None:
    async with serve(roles={"auditor": ["ops"]}) as h:
        assert (await h.client.get("/metrics", headers=bearer(make_token("auditor")))).status == 200
        assert (await h.client.get("/api/v1/blocks", headers=bearer(make_token("auditor")))).status == 403
        assert (await h.client.get("/api/v1/blocks", headers=bearer(make_token("viewer")))).status == 403


async def test_paths_outside_the_table_are_never_open(serve: Any) -> None:
    async with serve() as h:
        admin = bearer(make_token("admin"))
        for headers in ({}, admin):
            resp = await h.client.get("/hidden", headers=headers)  # served by aiohttp, not in the table
            assert await error_of(resp) == (404, "not_found")
        resp = await h.client.post("/api/v1/blocks", headers=admin)
        assert await error_of(resp) == (405, "method_not_allowed")


async def test_rate_limit_per_client_answers_429_with_retry_after(serve: Any) -> None:
    async with serve(rate_per_s=1, burst=2) as h:
        alice, bob = bearer(make_token(sub="alice")), bearer(make_token(sub="bob"))
        assert [(await h.client.get("/api/v1/blocks", headers=alice)).status for _ in range(2)] == [200, 200]
        resp = await h.client.get("/api/v1/blocks", headers=alice)
        assert await error_of(resp) == (429, "rate_limited")
        assert resp.headers["Retry-After"] == "1"
        assert (await h.client.get("/api/v1/blocks", headers=bob)).status == 200  # own bucket
        h.clock.ms += 1000  # one token back
        assert (await h.client.get("/api/v1/blocks", headers=alice)).status == 200
        assert (await h.client.get("/api/v1/blocks", headers=alice)).status == 429


async def test_failed_authentication_is_rate_limited_by_address(serve: Any) -> None:
    async with serve(rate_per_s=1, burst=3) as h:
        statuses = [(await h.client.get("/api/v1/blocks", headers=bearer("guess"))).status for _ in range(4)]
        assert statuses == [401, 401, 401, 429]


async def test_concurrency_cap_per_client_and_global(serve: Any) -> None:
    async with serve(max_inflight_per_client=1, max_inflight=2) as h:
        a, b, c = (bearer(make_token(sub=s)) for s in ("a", "b", "c"))
        first = asyncio.ensure_future(h.client.get("/slow", headers=a))
        await h.entered.get()
        resp = await h.client.get("/slow", headers=a)
        assert await error_of(resp) == (429, "too_many_requests")
        assert resp.headers["Retry-After"] == "1"
        second = asyncio.ensure_future(h.client.get("/slow", headers=b))
        await h.entered.get()
        assert (await h.client.get("/api/v1/blocks", headers=c)).status == 429  # global cap 2
        h.gate.set()
        assert [(await first).status, (await second).status] == [200, 200]
        assert h.guard.limits.inflight == 0
        assert (await h.client.get("/api/v1/blocks", headers=c)).status == 200


async def test_request_id_is_echoed_when_well_formed_else_generated(serve: Any) -> None:
    async with serve() as h:
        resp = await h.client.get("/api/v1/health", headers={"X-Request-Id": "abc-123.x:y"})
        assert resp.headers["X-Request-Id"] == "abc-123.x:y"
        for bad in ("has space", "x" * 65, "semi;colon"):
            resp = await h.client.get("/api/v1/health", headers={"X-Request-Id": bad})
            rid = resp.headers["X-Request-Id"]
            assert rid != bad and len(rid) == 32 and int(rid, 16) >= 0
        one = (await h.client.get("/api/v1/blocks")).headers["X-Request-Id"]  # on errors too
        two = (await h.client.get("/api/v1/blocks")).headers["X-Request-Id"]
        assert one != two


async def test_security_headers_on_answers_and_errors(serve: Any) -> None:
    async with serve() as h:
        for resp in (await h.client.get("/api/v1/health"), await h.client.get("/api/v1/blocks"),
                     await h.client.get("/nowhere")):  # fmt: skip
            csp = resp.headers["Content-Security-Policy"]
            assert "default-src 'none'" in csp and "script-src 'self'" in csp
            assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert resp.headers["X-Frame-Options"] == "DENY"
            assert resp.headers["Referrer-Policy"] == "no-referrer"
            assert resp.headers["Cache-Control"] == "no-store"
            assert "Strict-Transport-Security" not in resp.headers  # plain HTTP here


async def test_access_log_has_the_facts_and_never_the_token(serve: Any, caplog: pytest.LogCaptureFixture) -> None:
    token = make_token("operator", sub="ops-bot")
    async with serve() as h:
        with caplog.at_level(logging.INFO, logger="cybermesh.access"):
            await h.client.get("/metrics?secret=hunter2", headers={**bearer(token), "X-Request-Id": "rid-1"})
            forged = make_token("admin", sub="ops-bot", key=jwt.SigningKey("ed-1", "EdDSA", b"\x05" * 32))
            await h.client.get("/api/v1/blocks", headers=bearer(forged))
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "cybermesh.access"]
    assert len(lines) == 2
    ok, bad = lines
    assert {k: ok[k] for k in ("request_id", "method", "path", "status", "subject", "role", "via")} == {
        "request_id": "rid-1", "method": "GET", "path": "/metrics", "status": 200,
        "subject": "ops-bot", "role": "operator", "via": "jwt"}  # fmt: skip
    assert isinstance(ok["duration_ms"], float)
    assert (bad["status"], bad["reason"], bad["subject"]) == (401, "bad_signature", "")
    text = caplog.text
    for secret in (token, token.split(".")[2], token.split(".")[1], "hunter2", "Bearer"):
        assert secret not in text


async def test_auth_none_opens_everything_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    app = SimpleNamespace(conf=SimpleNamespace(), web=SimpleNamespace(web_app=web.Application()))
    with caplog.at_level(logging.WARNING, logger="cybermesh.auth"):
        install(app, ApiSettings(auth="none"), lambda m, p: "ops" if p == "/metrics" else None)
    assert "AUTHENTICATION IS OFF" in caplog.text
    assert not hasattr(app.conf, "web_ssl_context")
    assert len(app.web.web_app.middlewares) == 1


def test_install_names_an_unreadable_secret(tmp_path: Any) -> None:
    api = ApiSettings(jwt_keys=[{"kid": "h", "alg": "HS256", "secret_file": str(tmp_path / "missing")}])
    app = SimpleNamespace(conf=SimpleNamespace(), web=SimpleNamespace(web_app=web.Application()))
    with pytest.raises(ConfigError, match=r"api.jwt_keys\[0\] \(kid h\)"):
        install(app, api, lambda m, p: None)
    (tmp_path / "short").write_text("tooshort\n")
    api = ApiSettings(jwt_keys=[{"kid": "h", "alg": "HS256", "secret_file": str(tmp_path / "short")}])
    with pytest.raises(ConfigError, match="32 bytes"):
        install(app, api, lambda m, p: None)


# --- authenticate(): the pure decision, including client certificates ----------------------

KEYS = jwt.TokenVerifier({"ed-1": ED.verification_key()})
CERT = {"subject": ((("organizationName", "ACME"),), (("commonName", "ops-bot"),)),
        "subjectAltName": (("DNS", "ops.example"), ("URI", "spiffe://cm/ops"))}  # fmt: skip


def auth(mode: str, header: str | None, cert: dict[str, Any] | None, **kw: Any) -> Identity | Refusal:
    extra = {"tls_cert": "c.pem", "tls_key": "k.pem", "client_ca": "ca.pem"} if mode in ("mtls", "both") else {}
    api = ApiSettings(auth=mode, **extra, **kw)
    return authenticate(api, KEYS, header, cert, NOW)


def test_certificate_names_map_to_roles_cn_first() -> None:
    roles = {"CN=ops-bot": "operator", "DNS:ops.example": "admin"}
    assert auth("mtls", None, CERT, client_roles=roles) == Identity("CN=ops-bot", "operator", "mtls")
    assert auth("mtls", None, CERT, client_roles={"URI:spiffe://cm/ops": "viewer"}) == Identity(
        "URI:spiffe://cm/ops", "viewer", "mtls")  # fmt: skip
    assert auth("mtls", None, CERT) == Identity("CN=ops-bot", "", "mtls")  # unlisted: no role (403)
    assert isinstance(auth("mtls", None, None), Refusal)
    # mtls mode ignores bearer tokens: the certificate is the credential
    assert auth("mtls", f"Bearer {make_token('admin')}", None).reason == "missing_credentials"  # type: ignore[union-attr]


def test_mode_both_takes_a_token_or_a_certificate_and_a_sent_token_decides() -> None:
    roles = {"CN=ops-bot": "operator"}
    assert auth("both", None, CERT, client_roles=roles).role == "operator"  # type: ignore[union-attr]
    assert auth("both", f"Bearer {make_token('viewer')}", CERT, client_roles=roles).role == "viewer"  # type: ignore[union-attr]
    assert auth("both", "Bearer bad", CERT, client_roles=roles).reason == "malformed"  # type: ignore[union-attr]
    assert auth("both", None, None).reason == "missing_credentials"  # type: ignore[union-attr]


def test_jwt_mode_ignores_client_certificates() -> None:
    assert auth("jwt", None, CERT).reason == "missing_credentials"  # type: ignore[union-attr]
    assert auth("jwt", f"bearer {make_token('viewer')}", None) == Identity("alice", "viewer", "jwt")


def test_settings_refuse_inconsistent_api_sections() -> None:
    from pydantic import ValidationError

    for bad in ({"auth": "mtls"}, {"tls_cert": "c.pem"}, {"client_ca": "ca.pem"},
                {"jwt_keys": [{"kid": "a", "alg": "EdDSA", "public_key": "00" * 32}] * 2},
                {"jwt_keys": [{"kid": "a", "alg": "EdDSA"}]},
                {"jwt_keys": [{"kid": "a", "alg": "HS256", "public_key": "00" * 32}]},
                {"jwt_keys": [{"kid": "a", "alg": "none", "public_key": "00" * 32}]},
                {"client_roles": {"CN=x": "superuser"}}, {"roles": {"x": ["write"]}},
                {"auth": "open"}):  # fmt: skip
        with pytest.raises(ValidationError):
            ApiSettings(**bad)
    assert ApiSettings().auth == "jwt" and ApiSettings().audience == AUD


async def test_auth_none_serves_without_credentials_and_limits_by_address(serve: Any) -> None:
    async with serve(auth="none", rate_per_s=1, burst=2) as h:
        assert (await h.client.get("/metrics")).status == 200
        assert (await h.client.get("/api/v1/blocks", headers=bearer("whatever"))).status == 200
        assert (await h.client.get("/metrics")).status == 429  # one bucket for 127.0.0.1
        assert (await h.client.get("/hidden")).status == 429  # never open; scanning is limited too


def test_the_example_settings_carry_a_loadable_api_section(monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    from pathlib import Path

    from cybermesh.api.auth.middleware import keyring
    from cybermesh.config import load_settings

    for name in [k for k in os.environ if k.startswith("CYBERMESH_")]:
        monkeypatch.delenv(name)
    api = load_settings(Path(__file__).resolve().parents[3] / "docs/examples/cybermesh.toml").api
    assert (api.auth, api.jwt_keys[0].kid) == ("jwt", "ops-2026-11")
    assert set(keyring(api)) == {"ops-2026-11"}
