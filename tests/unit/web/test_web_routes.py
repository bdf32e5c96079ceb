"""The web view's routes on the worker's aiohttp application (no broker): the page and its
assets are served with the security headers, unknown names are 404, and every asset the page
references exists; the HTML and JS carry no inline script or style (the CSP forbids them)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from cybermesh.app import create_app
from cybermesh.config import load_settings
from cybermesh.web import CSP, load_assets
from tests.admission_kit import make_genesis


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient[Any, Any]]:
    settings = load_settings(data_dir=tmp_path, validator_id="v7", ingest={"audit_file": ""},
                             consensus={"enabled": False})  # fmt: skip
    app = create_app(settings, make_genesis(), store="memory://")
    app.finalize()
    web: Any = app.web
    web.init_server()
    async with TestClient(TestServer(web.web_app)) as c:
        yield c


async def test_page_and_assets_are_served_with_security_headers(client: TestClient[Any, Any]) -> None:
    page = await client.get("/ui/")
    assert page.status == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.headers["Content-Security-Policy"] == CSP
    assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    html = await page.text()
    refs = re.findall(r'(?:src|href)="(/ui/static/[^"]+)"', html)
    assert sorted(refs) == ["/ui/static/app.js", "/ui/static/icon.svg", "/ui/static/style.css"]
    for name in ("app.js", "api.js", "dom.js", "merkle.js", "sha256.js", "style.css"):
        r = await client.get(f"/ui/static/{name}")
        assert r.status == 200, name
        assert r.headers["Content-Security-Policy"] == CSP
        expected = "text/css" if name.endswith(".css") else "text/javascript"
        assert r.headers["Content-Type"].startswith(expected), name


@pytest.mark.parametrize("path", ["/ui/static/nope.js", "/ui/static/index.html", "/ui/static/..%2F__init__.py",
                                  "/ui/static/%2e%2e%2fapp.py"])  # fmt: skip
async def test_unknown_assets_are_404(client: TestClient[Any, Any], path: str) -> None:
    r = await client.get(path)
    assert r.status == 404


async def test_ui_without_slash_redirects(client: TestClient[Any, Any]) -> None:
    r = await client.get("/ui", allow_redirects=False)
    assert r.status == 308 and r.headers["Location"] == "/ui/"


def test_assets_have_no_inline_script_or_html_sinks() -> None:
    assets = load_assets()
    html = assets["index.html"][0].decode()
    assert re.findall(r"<script(?![^>]*\bsrc=)", html) == []  # every script is a file
    assert "<style" not in html and " style=" not in html and re.search(r"\son\w+=", html) is None
    for name, (body, _) in assets.items():
        if name.endswith(".js"):
            text = body.decode()
            # data reaches the DOM as text only (dom.js)
            for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
                assert sink not in text, (name, sink)
            imports = re.findall(r'from "\./([\w.]+)"', text)
            assert all(i in assets for i in imports), (name, imports)


@pytest.mark.parametrize("path", ["/ui", "/ui/", "/ui/static/app.js"])
def test_web_routes_are_public_in_the_route_table(path: str) -> None:
    # the access-control middleware answers 404 for a path in no route and 401 without a token
    # for non-public ones; a page load carries no token
    from cybermesh.api.routes import permission

    assert permission("GET", path) == "public"
    assert permission("GET", "/ui/static/a/b.js") is None  # one segment only


def test_every_web_file_ships_as_package_data() -> None:
    # a file the page needs but the wheel leaves out would 500 at start-up (load_assets) only
    # on installed validators, never in a checkout
    import fnmatch
    import tomllib

    root = Path(__file__).resolve().parents[3]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["cybermesh"]
    files = [p.relative_to(root / "cybermesh").as_posix() for p in (root / "cybermesh" / "web").rglob("*")
             if p.is_file() and p.suffix != ".py" and "__pycache__" not in p.parts]  # fmt: skip
    assert sorted(load_assets()) == sorted(Path(f).name for f in files)
    assert [f for f in files if not any(fnmatch.fnmatch(f, pat) for pat in patterns)] == []
