"""The operator's web view, served by the validator's own Faust web server (docs/WEB.md).

GET /ui/                  the page (index.html)
GET /ui/static/<name>     its ES modules and stylesheet (a fixed set, read once at start)

Rules:
1. No data is served here: the page fetches /api/v1 itself, with the operator's bearer token.
   These routes hold no secret and need no token (a browser cannot send one for a page load);
   the access-control layer must let /ui/ and /ui/static/ through.
2. Only files shipped in this package are served, by exact name: no path from the request
   reaches the file system.
3. Every response carries a same-origin Content-Security-Policy with no inline script or
   style, `nosniff`, `no-referrer`, `frame-ancestors 'none'`, and `no-cache` (a restarted
   validator serves its new page at once).
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import faust

UI_PATH = "/ui/"
STATIC_PATH = "/ui/static/"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}

CSP = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
])  # fmt: skip

SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


class UnknownAssetError(LookupError):
    """A file in cybermesh/web whose suffix has no content type here."""


def load_assets() -> dict[str, tuple[bytes, str]]:
    """Name -> (bytes, content type) of `index.html` and every file under `static/`."""
    root = resources.files(__package__)
    assets: dict[str, tuple[bytes, str]] = {}
    files = [("index.html", root / "index.html")]
    files += sorted((f.name, f) for f in (root / "static").iterdir() if f.is_file())
    for name, f in files:
        suffix = name[name.rfind(".") :]
        if suffix not in CONTENT_TYPES:
            raise UnknownAssetError(f"cybermesh/web asset {name!r}: no content type for {suffix!r}")
        assets[name] = (f.read_bytes(), CONTENT_TYPES[suffix])
    return assets


def respond(assets: dict[str, tuple[bytes, str]], path: str) -> tuple[int, bytes, dict[str, str]]:
    """(status, body, headers) for a GET of `path` (rules 2 and 3 of the module docstring)."""
    if path == UI_PATH:
        name = "index.html"
    elif path.startswith(STATIC_PATH) and path[len(STATIC_PATH) :] != "index.html":
        name = path[len(STATIC_PATH) :]
    else:
        name = ""
    if name not in assets:
        return 404, b"not found\n", {**SECURITY_HEADERS, "Content-Type": "text/plain; charset=utf-8"}
    body, ctype = assets[name]
    return 200, body, {**SECURITY_HEADERS, "Content-Type": ctype}


def register_web(app: faust.App) -> None:
    """Add GET /ui/, GET /ui (redirect) and GET /ui/static/{name} to the app's web server."""
    assets = load_assets()

    def serve(view: Any, path: str) -> Any:
        status, body, headers = respond(assets, path)
        return view.bytes(body, status=status, headers=headers)

    @app.page(UI_PATH, name="web_index")
    async def index(self: Any, request: Any) -> Any:
        return serve(self, UI_PATH)

    @app.page("/ui", name="web_redirect")
    async def redirect(self: Any, request: Any) -> Any:
        return self.text("", status=308, headers={**SECURITY_HEADERS, "Location": UI_PATH})

    @app.page(STATIC_PATH + "{name}", name="web_static")
    async def static(self: Any, request: Any, name: str) -> Any:
        return serve(self, STATIC_PATH + name)
