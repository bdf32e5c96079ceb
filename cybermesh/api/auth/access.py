"""Access decisions without I/O: roles to permissions, per-client limits, request ids, headers.

Pure: time comes in as `now_ms`, fresh ids from a caller-supplied function.

Rules:
1. Permissions are `public`, `read`, `ops` (cybermesh/api/routes.py) and `admin` (reserved for
   future write endpoints). A role grants the permissions listed for it in the role map; `*`
   grants every permission. A role not in the map (or no role) is granted nothing: 403.
   `public` needs no role at all.
2. Rate limit: each client (token subject, certificate name, or `ip:ADDR` for requests without
   an identity) has a token bucket of `burst` requests refilled at `rate_per_s`
   (cybermesh.admission.ratelimit). An empty bucket answers 429 with Retry-After = the whole
   seconds until one token is back (at least 1). At most `max_clients` buckets are kept; the
   least recently used one is forgotten first (it comes back full).
3. Concurrency: at most `max_inflight` requests in handlers at once, and at most
   `max_inflight_per_client` per client; a request over either cap is not queued: 429 with
   Retry-After: 1.
4. Request id: the client's `X-Request-Id` if it is 1-64 characters of [A-Za-z0-9._:-],
   otherwise a fresh one; it is echoed in the response and written to the access log.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from cybermesh.admission.ratelimit import MILLI, Bucket, has_token, refill, spend

PERMISSIONS: Final = ("public", "read", "ops", "admin")
ALL: Final = "*"
DEFAULT_ROLES: Final[dict[str, list[str]]] = {
    "viewer": ["read"],
    "operator": ["read", "ops"],
    "admin": [ALL],
}
_REQUEST_ID: Final = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def is_allowed(role: str, permission: str, roles: Mapping[str, Sequence[str]]) -> bool:
    """Rule 1."""
    if permission == "public":
        return True
    granted = roles.get(role)
    if not role or granted is None:
        return False
    return ALL in granted or permission in granted


def request_id(offered: str | None, fresh: Callable[[], str]) -> str:
    """Rule 4."""
    if offered is not None and _REQUEST_ID.match(offered):
        return offered
    return fresh()


@dataclass(frozen=True)
class Verdict:
    """The limiter's answer for one request."""

    ok: bool
    retry_after_s: int = 0
    """Seconds the client should wait (429 Retry-After) when not ok."""
    cause: str = ""
    """`rate_limited` | `too_many_inflight` when not ok."""


class ClientLimits:
    """Rules 2 and 3. NOTE: call `release(client)` once for every `enter` that returned ok."""

    def __init__(
        self,
        *,
        rate_per_s: int,
        burst: int,
        max_inflight: int,
        max_inflight_per_client: int,
        max_clients: int = 10_000,
    ) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.max_inflight = max_inflight
        self.max_inflight_per_client = max_inflight_per_client
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()
        self._inflight: dict[str, int] = {}
        self.inflight = 0

    def take(self, client: str, now_ms: int) -> Verdict:
        """Spend one token of `client`'s bucket (rule 2)."""
        bucket = refill(self._buckets.get(client), now_ms, self.rate_per_s, self.burst)
        if not has_token(bucket):
            self._remember(client, bucket)
            missing = MILLI - bucket.milli_tokens  # refills at rate_per_s milli-tokens per ms
            wait_s = -(-missing // (self.rate_per_s * 1000))
            return Verdict(False, max(1, wait_s), "rate_limited")
        self._remember(client, spend(bucket))
        return Verdict(True)

    def _remember(self, client: str, bucket: Bucket) -> None:
        self._buckets[client] = bucket
        self._buckets.move_to_end(client)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)

    def enter(self, client: str) -> Verdict:
        """Count a request into its handler (rule 3)."""
        mine = self._inflight.get(client, 0)
        if self.inflight >= self.max_inflight or mine >= self.max_inflight_per_client:
            return Verdict(False, 1, "too_many_inflight")
        self._inflight[client] = mine + 1
        self.inflight += 1
        return Verdict(True)

    def release(self, client: str) -> None:
        """A request counted by `enter` has left its handler."""
        left = self._inflight.get(client, 0) - 1
        if left > 0:
            self._inflight[client] = left
        else:
            self._inflight.pop(client, None)
        self.inflight = max(0, self.inflight - 1)


CONTENT_SECURITY_POLICY: Final = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
"""A same-origin page: scripts, styles, images and API calls from this origin only, no inline
script or style, no framing, no plugins."""


def security_headers(tls: bool) -> dict[str, str]:
    """Headers added to every response (HSTS only when served over TLS)."""
    headers = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    }
    if tls:
        headers["Strict-Transport-Security"] = "max-age=31536000"
    return headers
