"""The web view in headless Chromium against a stand-in API (fake_api.py), no broker: sign-in
(401, login box, #token= fragment), per-section 403, 429 back-off, live tables, a block's detail with its certificate signers, the in-browser proof check (valid
inclusion and non-inclusion; invalid for a tampered proof and for a lying root), and that API
data is rendered as text, never as markup. The live-localnet test is test_web_localnet.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from cybermesh.web import load_assets, respond
from tests.e2e.web.browser import Browser
from tests.e2e.web.fake_api import EVIL, FakeApi
from tests.ports import free_port


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, FakeApi]]:
    """The page (cybermesh.web.respond, as the worker serves it) and the stand-in API on one
    aiohttp app. (The worker's own routes are checked by tests/unit/web/test_web_routes.py and
    test_web_localnet.py; its real /api/v1 would shadow the stand-in here.)"""
    assets = load_assets()

    async def page(request: web.Request) -> web.Response:
        status, body, headers = respond(assets, request.path)
        return web.Response(body=body, status=status, headers=headers)

    app = web.Application()
    app.router.add_get("/ui/", page)
    app.router.add_get("/ui/static/{name}", page)
    api = FakeApi()
    api.install(app.router)
    server = TestServer(app, host="127.0.0.1", port=free_port(28000, 28400))
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{server.port}", api
    finally:
        await server.close()


def filled(section: str) -> Callable[[Any], bool]:
    return lambda d: rows(d, section) >= 1


def rows(d: Any, section: str) -> int:
    return len(d.find_elements("css selector", f"#{section} tbody tr[data-height], #{section} tbody tr:not(:has(td[colspan]))"))


async def test_page_against_a_stand_in_api(browser: Browser, served: tuple[str, FakeApi]) -> None:
    base, api = served
    try:
        # no token: the API answers 401, the page says so and offers the login box
        await browser.get(f"{base}/ui/")
        await browser.wait("the signed-out state", lambda d: d.find_element("id", "live").get_attribute("data-state") == "signed-out")
        assert "401" in await browser.text("#banner")
        # sign in through the login box: every later request carries the bearer token
        await browser.type("#token-input", "admin-token")
        await browser.click("#token-save")
        first = int(await browser.wait_text("#stat-height", str.isdigit, "the committed height"))
        await browser.wait("the block table", lambda d: rows(d, "blocks") >= 5)
        await browser.wait_text("#stat-height", lambda t: t.isdigit() and int(t) > first, "the height to advance")
        assert all(tok == "admin-token" for path, tok in api.requests[-5:])
        for section in ("validators", "mempool", "entities", "evidence", "dlq"):
            await browser.wait(f"the {section} table", filled(section))
        assert "bad_signature" in await browser.text("#dlq") and "ev-1" in await browser.text("#evidence")
        # API data is text: the hostile entity id shows verbatim and no element was made of it
        assert EVIL in await browser.text("#entities")
        assert await browser.js("return document.querySelectorAll('#entities img').length") == 0
        assert await browser.js("return window.pwned === undefined") is True
        # block detail: header fields, both certificates' signers, tx list
        await browser.click("#blocks tbody tr:nth-child(2) a.block-link")
        detail = await browser.wait_text("#block-detail", lambda t: "Committed by" in t and "load-0" in t, "the block detail")
        assert "v2: no vote" in detail and "v0: signed" in detail and "3 of 4 signed" in detail
        # the stand-in's hashes and signatures are made up: the browser's own check says so
        await browser.wait("an invalid block verdict", lambda d: d.find_element("id", "block-verdict").get_attribute("data-verdict") == "invalid")
        checks = await browser.text("#block-checks")
        assert "block hash MISMATCH" in checks and "QC: NOT certified" in checks and "INVALID (v0, v1, v3)" in checks, checks
        # state lookup: inclusion proof checked in the browser
        await browser.type("#proof-key", "rep/host-2")
        await browser.click("#proof-lookup")
        await browser.wait("a valid verdict", lambda d: d.find_element("id", "proof-result").get_attribute("data-verdict") == "valid")
        assert "present" in await browser.text("#proof-result")
        # the stand-in's later block carries another root for that height: not certified
        await browser.wait_text("#proof-certified", lambda t: t.startswith("NOT CERTIFIED"), "a refused root certification")
        assert "carries another root" in await browser.text("#proof-certified")
        # a tampered sibling in the received proof: invalid
        await browser.js("""const t = document.getElementById('proof-json'); const a = JSON.parse(t.value);
            const s = a.proof.siblings.findIndex(x => !/^0+$/.test(x));
            a.proof.siblings[s] = (a.proof.siblings[s][0] === 'a' ? 'b' : 'a') + a.proof.siblings[s].slice(1);
            delete a.proof.encoded; t.value = JSON.stringify(a);""")
        await browser.click("#proof-raw summary")
        await browser.click("#proof-verify")
        await browser.wait("an invalid verdict", lambda d: d.find_element("id", "proof-result").get_attribute("data-verdict") == "invalid")
        assert "differs from the state root" in await browser.text("#proof-result")
        # non-inclusion: an absent key is proven absent
        await browser.type("#proof-key", "rep/nobody")
        await browser.click("#proof-lookup")
        await browser.wait_text("#proof-result", lambda t: t.startswith("VALID") and "absent" in t, "a valid absence proof")
        # a server whose proof does not lead to its stated root
        api.tamper_root = True
        await browser.click("#proof-lookup")
        await browser.wait_text("#proof-result", lambda t: t.startswith("INVALID"), "an invalid verdict for a lying root")
        api.tamper_root = False
        await browser.wait("the root's certification", lambda d: d.find_element("id", "proof-certified").get_attribute("data-verdict") not in ("pending", "none"))
        # no later block carries the proof's root: "pending" while the page proves again at a
        # newer height, and "not certified (yet)" only once, after the last of 4 tries
        api.hint_skips = True
        await browser.js("""window.certified = []; const p = document.getElementById('proof-certified');
            new MutationObserver(() => window.certified.push(p.textContent)).observe(p, {childList: true, characterData: true, subtree: true});""")
        asked = sum(path.startswith("/api/v1/state/keys/") for path, _ in api.requests)
        await browser.type("#proof-key", "rep/host-1")
        await browser.click("#proof-lookup")
        await browser.wait_text("#proof-certified", lambda t: t.startswith("No committed"), "the final 'not certified yet'", 40)
        texts = await browser.js("return window.certified")
        assert sum(path.startswith("/api/v1/state/keys/") for path, _ in api.requests) - asked == 4
        assert [t.startswith("No committed") for t in texts].count(True) == 1 and texts[-1].startswith("No committed"), texts
        assert sum("proving again" in t for t in texts) == 3, texts
        api.hint_skips = False
        # 429: polling pauses and says so, then resumes
        api.rate_limited = True
        await browser.wait("the rate-limited state", lambda d: d.find_element("id", "live").get_attribute("data-state") == "limited")
        assert "429" in await browser.text("#banner")
        api.rate_limited = False
        await browser.wait("polling to resume", lambda d: d.find_element("id", "live").get_attribute("data-state") == "live")
        # a viewer token from the fragment: kept in sessionStorage, gone from the address bar;
        # ops sections say 403, the rest still fills
        await browser.get(f"{base}/ui/#token=viewer-token")
        await browser.wait("the mempool's 403", lambda d: "403" in d.find_element("id", "mempool-status").text)
        assert "token=" not in browser.driver.current_url
        assert await browser.js("return sessionStorage.getItem('cybermesh.token')") == "viewer-token"
        await browser.wait("blocks for the viewer", lambda d: rows(d, "blocks") >= 5)
        assert "403" in await browser.text("#dlq-status")
        assert await browser.js("return document.querySelectorAll('#mempool tr, #dlq tr').length") == 0
        errors = [e for e in browser.console() if e["level"] == "SEVERE" and "status of 4" not in e["message"]]
        assert errors == [], errors
    finally:
        await browser.screenshot("stand-in-api")
