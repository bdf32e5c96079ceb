"""The route table of the read-only API, as data (docs/API.md).

Each `Route` is (method, aiohttp path pattern, permission, operation name, summary).
Access control (branch `auth`) maps roles to permissions with an aiohttp middleware that
reads this table; the API module registers exactly these routes and the OpenAPI document
lists exactly the `/api/v1` ones (a test keeps the three in step).

Permissions:
1. `public`: no credentials (liveness, readiness, the OpenAPI document, the web view's page
   and static files).
2. `read`: chain data (blocks, transactions, state and proofs, entities, evidence, policies,
   validators, consensus).
3. `ops`: operator views (mempool, DLQ counts, Prometheus metrics, the legacy /mempool/ view).

NOTE: unknown paths under `/api/v1/` get a JSON 404 (and a known path with another method a
JSON 405) from the API's error middleware, not from a route; an auth middleware should treat
a path that matches no `Route` as needing at least `read` (or deny it), never as public.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

Permission = Literal["public", "read", "ops"]

PREFIX: Final = "/api/v1"


@dataclass(frozen=True)
class Route:
    method: str
    """HTTP method (all GET: the API is read-only)."""
    path: str
    """aiohttp path pattern, e.g. `/api/v1/blocks/{height}`."""
    permission: Permission
    """Who may call it: public | read | ops (module docstring)."""
    name: str
    """Operation id (OpenAPI `operationId`, handler name)."""
    summary: str
    """One line for the OpenAPI document."""

    @property
    def in_openapi(self) -> bool:
        """Routes under /api/v1 are described by the OpenAPI document."""
        return self.path.startswith(PREFIX + "/")


ROUTES: Final[tuple[Route, ...]] = (
    Route("GET", PREFIX + "/health", "public", "health", "liveness: the process answers"),
    Route("GET", PREFIX + "/ready", "public", "ready", "readiness: broker, consensus and projection live"),
    Route("GET", PREFIX + "/openapi.json", "public", "openapi", "this API's OpenAPI 3.1 document"),
    Route("GET", PREFIX + "/blocks", "read", "blocks", "committed blocks, newest first (cursor pages)"),
    Route("GET", PREFIX + "/blocks/latest", "read", "block_latest", "the last committed block"),
    Route("GET", PREFIX + "/blocks/hash/{block_hash}", "read", "block_by_hash", "a committed block by hash"),
    Route("GET", PREFIX + "/blocks/{height}", "read", "block_by_height", "a committed block by height"),
    Route("GET", PREFIX + "/txs", "read", "txs_by_id", "committed transactions by producer-chosen id"),
    Route("GET", PREFIX + "/txs/{tx_hash}", "read", "tx_by_hash", "a committed transaction by hash"),
    Route("GET", PREFIX + "/state/root", "read", "state_root", "committed height and state root"),
    Route("GET", PREFIX + "/state/keys/{key}", "read", "state_key", "a state value with its Merkle proof"),
    Route("GET", PREFIX + "/entities", "read", "entities", "entities (reputation, quarantine), filtered, paged"),
    Route("GET", PREFIX + "/entities/{entity_id}", "read", "entity", "one entity's reputation and quarantine"),
    Route("GET", PREFIX + "/evidence", "read", "evidence_list", "evidence decisions, newest first, paged"),
    Route("GET", PREFIX + "/evidence/{evidence_id}", "read", "evidence", "one evidence decision"),
    Route("GET", PREFIX + "/policies", "read", "policies", "parameters in force and policy decisions"),
    Route("GET", PREFIX + "/validators", "read", "validators", "validator set with liveness"),
    Route("GET", PREFIX + "/consensus", "read", "consensus", "round, leader, high QC, last commit, timeouts"),
    Route("GET", PREFIX + "/mempool", "ops", "mempool", "mempool summary and top entries"),
    Route("GET", PREFIX + "/dlq", "ops", "dlq", "rejections (DLQ records) by topic and reason"),
    Route("GET", "/metrics", "ops", "metrics", "Prometheus metrics (text exposition)"),
    Route("GET", "/mempool/", "ops", "mempool_view", "legacy mempool view (docs/ADMISSION.md)"),
    # The web view (cybermesh/web, registered by register_web; docs/WEB.md): public, because a
    # browser cannot send a bearer token for a page load and these hold no data (the page
    # reads /api/v1 itself, with the operator's token).
    Route("GET", "/ui", "public", "web_redirect", "redirect to the web view"),
    Route("GET", "/ui/", "public", "web_index", "the web view (HTML)"),
    Route("GET", "/ui/static/{name}", "public", "web_static", "the web view's scripts, stylesheet, icon"),
)


def _regex(pattern: str) -> re.Pattern[str]:
    out, pos = "", 0
    for m in re.finditer(r"\{(\w+)(?::([^}]*))?\}", pattern):
        out += re.escape(pattern[pos : m.start()]) + f"(?P<{m.group(1)}>{m.group(2) or '[^/]+'})"
        pos = m.end()
    return re.compile(out + re.escape(pattern[pos:]) + r"\Z")


_COMPILED: Final = tuple((r, _regex(r.path)) for r in ROUTES)


def match(method: str, path: str) -> Route | None:
    """The route a request (method, URL path) is served by, None if no route matches.

    Rules: routes are tried in table order (as aiohttp does: `/blocks/latest` before
    `/blocks/{height}`); a `{name}` segment matches one non-empty path segment.
    """
    for route, rx in _COMPILED:
        if route.method == method.upper() and rx.match(path):
            return route
    return None


def permission(method: str, path: str) -> Permission | None:
    """The permission a request needs; None: no route (deny, or JSON 404 under /api/v1)."""
    route = match(method, path)
    return None if route is None else route.permission
