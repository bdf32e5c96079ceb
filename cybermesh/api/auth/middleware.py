"""The aiohttp glue: an access-control middleware on the Faust worker's web server.

Per request, in this order (docs/AUTH.md):
1. Request id (access.request_id): echoed in `X-Request-Id`, written to the access log.
2. Route: the permission of (method, path) from the route table (HEAD counts as GET). A path
   in no route is answered 404 (405 for another method on a known path) before any
   authentication: nothing is open by default (rate limited per address like step 4).
3. Identity, unless the route is `public`: a bearer token (modes jwt, both) or a verified
   client certificate (modes mtls, both); mode none gives everyone every permission.
4. Rate limit per client (the identity, else `ip:ADDR`): 429 + Retry-After. Counted before the
   401, so guessing tokens is rate limited too.
5. No or a bad credential: 401 (with `WWW-Authenticate: Bearer` when tokens are accepted);
   an identity whose role lacks the permission: 403.
6. Concurrency caps (global and per client): 429 + Retry-After: 1.
7. The handler; security headers, X-Request-Id and `Cache-Control: no-store` (unless the
   handler set one) on every response, errors included.
8. One access-log line (JSON, logger `cybermesh.access`): request id, method, path (never the
   query string), status, duration, client address, subject, role, how authenticated, and the
   refusal reason. Never the Authorization header, a token, or a body.
Errors are JSON: {"error": {"code", "message"}}.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from cybermesh.api.auth import access, jwt, tls
from cybermesh.config import ApiSettings, ConfigError

log = logging.getLogger("cybermesh.auth")
access_log = logging.getLogger("cybermesh.access")

REQUEST_ID = web.RequestKey("request_id", str)
"""`request[REQUEST_ID]`: the request id (handlers may quote it; it is in X-Request-Id)."""

PermissionOf = Callable[[str, str], "str | None"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Identity:
    """Who sent a request."""

    subject: str
    """Token `sub` or certificate name; the rate-limit key and the access log's subject."""
    role: str
    via: str
    """`jwt` | `mtls` | `none` (auth disabled)."""


@dataclass(frozen=True)
class Refusal:
    """Why a request has no identity (401)."""

    reason: str
    """Stable code: `missing_credentials`, `bad_authorization_header` or a TokenError reason."""
    message: str


def keyring(api: ApiSettings) -> dict[str, jwt.VerificationKey]:
    """The verification keys of the settings; ConfigError names a bad or unreadable key."""
    keys: dict[str, jwt.VerificationKey] = {}
    for i, k in enumerate(api.jwt_keys):
        where = f"api.jwt_keys[{i}] (kid {k.kid})"
        try:
            if k.alg == "EdDSA":
                material = bytes.fromhex(k.public_key)
            else:
                assert k.secret_file is not None
                material = Path(k.secret_file).read_bytes().strip()
            keys[k.kid] = jwt.VerificationKey(k.kid, k.alg, material)
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read {k.secret_file}: {exc.strerror}") from None
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return keys


def authenticate(
    api: ApiSettings,
    tokens: jwt.TokenVerifier,
    authorization: str | None,
    peercert: dict[str, Any] | None,
    now_s: int,
) -> Identity | Refusal:
    """Step 3 (pure: the header, the verified peer certificate and the time come in)."""
    if api.auth == "none":
        return Identity("anonymous", "", "none")
    if authorization is not None and api.auth in ("jwt", "both"):
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return Refusal("bad_authorization_header", "expected Authorization: Bearer <token>")
        try:
            claims = jwt.checked(tokens.signed_claims(token.strip()), audience=api.audience,
                                 issuer=api.issuer, now_s=now_s, leeway_s=api.leeway_s)  # fmt: skip
        except jwt.TokenError as exc:
            return Refusal(exc.reason, f"invalid token: {exc.reason}")
        return Identity(claims.subject, claims.role, "jwt")
    if api.auth in ("mtls", "both"):
        names = tls.certificate_names(peercert)
        if names:
            subject, role = tls.certificate_role(names, api.client_roles)
            return Identity(subject, role, "mtls")
    wanted = {"jwt": "a bearer token", "mtls": "a client certificate"}.get(
        api.auth, "a bearer token or a client certificate"
    )
    return Refusal("missing_credentials", f"this endpoint needs {wanted}")


def error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """The JSON error shape shared with the API: {"error": {"code", "message"}}."""
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status, headers=headers
    )


class Guard:
    """Steps 1-8 for one web application. Single event loop: no locks needed."""

    def __init__(
        self,
        api: ApiSettings,
        keys: dict[str, jwt.VerificationKey],
        permission_of: PermissionOf,
        *,
        clock_s: Callable[[], float] = time.time,
        monotonic_ms: Callable[[], int] = lambda: time.monotonic_ns() // 1_000_000,
    ) -> None:
        self.api = api
        self.keys = keys
        self.tokens = jwt.TokenVerifier(keys)
        self.permission_of = permission_of
        self.clock_s = clock_s
        self.monotonic_ms = monotonic_ms
        self.limits = access.ClientLimits(
            rate_per_s=api.rate_per_s, burst=api.burst, max_inflight=api.max_inflight,
            max_inflight_per_client=api.max_inflight_per_client, max_clients=api.max_clients,
        )  # fmt: skip
        self.headers = access.security_headers(api.tls)
        self.roles: dict[str, list[str]] = {k: list(v) for k, v in api.roles.items()}

    def attach(self, web_app: web.Application) -> None:
        """Install on `web_app` (NOTE: before it starts; aiohttp freezes middlewares then)."""

        @web.middleware
        async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
            return await self.handle(request, handler)

        web_app.middlewares.append(guard)
        web_app.on_response_prepare.append(self.on_prepare)

    async def on_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        """Step 7's headers, on every response (exceptions and static files included)."""
        for name, value in self.headers.items():
            response.headers.setdefault(name, value)
        response.headers.setdefault("Cache-Control", "no-store")
        rid = request.get(REQUEST_ID)
        if rid:
            response.headers["X-Request-Id"] = rid

    def _peercert(self, request: web.Request) -> dict[str, Any] | None:
        transport = request.transport
        if transport is None:
            return None
        cert: dict[str, Any] | None = transport.get_extra_info("peercert")
        return cert

    async def handle(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        rid = access.request_id(request.headers.get("X-Request-Id"), lambda: uuid.uuid4().hex)
        request[REQUEST_ID] = rid
        entry: dict[str, Any] = {"request_id": rid, "method": request.method,
                                 "path": request.path[:256], "client": request.remote or "",
                                 "subject": "", "role": "", "via": "", "reason": ""}  # fmt: skip
        status = 500
        try:
            response = await self._decide(request, handler, entry)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            entry["status"] = status
            entry["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
            if self.api.access_log:
                access_log.info(json.dumps(entry, separators=(",", ":")))

    async def _decide(
        self, request: web.Request, handler: Handler, entry: dict[str, Any]
    ) -> web.StreamResponse:
        method = "GET" if request.method == "HEAD" else request.method
        permission = self.permission_of(method, request.path)
        if permission is None:
            entry["reason"] = "no_route"
            verdict = self.limits.take(f"ip:{request.remote or '?'}", self.monotonic_ms())
            if not verdict.ok:  # scanning for paths is rate limited too
                entry["reason"] = verdict.cause
                return error(429, "rate_limited", "too many requests for this client",
                             {"Retry-After": str(verdict.retry_after_s)})  # fmt: skip
            if self.permission_of("GET", request.path) is not None:
                return error(405, "method_not_allowed", f"{method} is not allowed here (GET, HEAD)",
                             {"Allow": "GET, HEAD"})  # fmt: skip
            return error(404, "not_found", f"no such endpoint: {method} {request.path[:200]}")
        who: Identity | Refusal | None = None
        if permission != "public":
            who = authenticate(self.api, self.tokens, request.headers.get("Authorization"),
                               self._peercert(request), int(self.clock_s()))  # fmt: skip
        client = f"ip:{request.remote or '?'}"
        if isinstance(who, Identity):
            entry.update(subject=who.subject, role=who.role, via=who.via)
            if who.via != "none":  # mode none: everyone is "anonymous"; limit by address
                client = f"{who.via}:{who.subject}"
        verdict = self.limits.take(client, self.monotonic_ms())
        if not verdict.ok:
            entry["reason"] = verdict.cause
            return error(429, "rate_limited", "too many requests for this client",
                         {"Retry-After": str(verdict.retry_after_s)})  # fmt: skip
        if isinstance(who, Refusal):
            entry["reason"] = who.reason
            challenge = {}
            if self.api.auth != "mtls":  # RFC 6750 §3: no error code when no token was sent
                bad = "" if who.reason == "missing_credentials" else ', error="invalid_token"'
                challenge["WWW-Authenticate"] = f'Bearer realm="cybermesh"{bad}'
            return error(401, "unauthorized", who.message, challenge)
        if (
            who is not None
            and who.via != "none"
            and not access.is_allowed(who.role, permission, self.roles)
        ):
            entry["reason"] = "forbidden"
            return error(
                403,
                "forbidden",
                f"role {who.role or '(none)'!r} may not use {permission} endpoints",
            )
        verdict = self.limits.enter(client)
        if not verdict.ok:
            entry["reason"] = verdict.cause
            return error(429, "too_many_requests", "too many requests in flight",
                         {"Retry-After": str(verdict.retry_after_s)})  # fmt: skip
        try:
            return await handler(request)
        finally:
            self.limits.release(client)


def install(app: Any, api: ApiSettings, permission_of: PermissionOf | None = None) -> Guard:
    """TLS and access control on a Faust app's web server (call before the worker starts).

    `permission_of(method, path)` defaults to the API's route table (cybermesh.api.routes)."""
    if permission_of is None:
        from cybermesh.api.routes import permission

        permission_of = permission
    keys = keyring(api)
    ctx = tls.server_context(api)
    if ctx is not None:
        app.conf.web_ssl_context = ctx
    guard = Guard(api, keys, permission_of)
    guard.attach(app.web.web_app)
    if api.auth == "none":
        log.warning("API AUTHENTICATION IS OFF (api.auth = \"none\"): every endpoint of this "
                    "worker, including operator views, is open to anyone who can reach its port")  # fmt: skip
    elif api.auth in ("jwt", "both") and not keys:
        log.warning("api.auth = %r but no api.jwt_keys: every bearer token is refused (401)",
                    api.auth)  # fmt: skip
    log.info("api access control: auth=%s tls=%s jwt kids=%s", api.auth, api.tls, sorted(keys))
    return guard
