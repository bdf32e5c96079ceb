"""The web view in headless Chromium against a live 4-validator localnet under a signed load:
the page loads from a validator's own web server, the tables fill (three undecodable records
give the DLQ table a row), the committed height
advances while the load runs, a block's detail opens with its certificate signers (its hash
and both QCs' Ed25519 votes verified in the browser), the
in-browser Merkle proof check says valid for a real entity's reputation (and for an absent
key) and invalid once the proof is tampered with; a full-page screenshot is saved under
.local/artifacts/web/ (its path is printed)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from pathlib import Path
from typing import Any

import pytest

from cybermesh.localnet import Plan, issue_token
from tests.e2e.web.browser import Browser
from tests.harness import produce_raw
from tests.integration.localnet.test_localnet import cli, free_base

pytestmark = pytest.mark.kafka
VALIDATORS = 4


def verdict(d: Any) -> str:
    return d.find_element("id", "proof-result").get_attribute("data-verdict")  # type: ignore[no-any-return]


def body_rows(d: Any, section: str) -> int:
    return len(d.find_elements("css selector", f"#{section} tbody tr:not(:has(td[colspan]))"))


@pytest.mark.isolated
async def test_web_view_on_a_live_localnet(kafka_bootstrap: str, tmp_path: Path, browser: Browser) -> None:
    # NOTE: `isolated` like the live-localnet replay test (issue 10: workers started from the
    # whole suite's pytest process have exited silently).
    tag = "web" + uuid.uuid4().hex[:6]  # ports 28000-28399 (the browser's driver takes 28400-28499)
    d = tmp_path / "net"
    up = await cli("localnet", "up", "--validators", str(VALIDATORS), "--dir", str(d), "--bootstrap", kafka_bootstrap,
                   "--topic-prefix", f"{tag}-", "--id-prefix", f"{tag}-v", "--base-port", str(free_base(VALIDATORS, 28000, 300)))  # fmt: skip
    load: asyncio.Task[Any] | None = None
    try:
        assert up.returncode == 0, up.stderr
        plan = Plan.load(d)
        maps = [a for t in ("ai.anomalies.v1", "ai.evidence.v1", "ai.policy.v1") for a in ("--topic-map", f"{t}={tag}-{t}")]
        load = asyncio.create_task(cli("produce", "--key", plan.producer_key, "--producer-id", plan.producer_id,
                                       "--genesis", plan.genesis, "--bootstrap", kafka_bootstrap, "--rate", "100",
                                       "--duration", "30", "--quiet", *maps))  # fmt: skip
        await produce_raw(kafka_bootstrap, f"{tag}-ai.anomalies.v1", [b"\xffnot a message"] * 3)  # -> DLQ
        token = issue_token(d, role="operator")
        await browser.get(f"http://127.0.0.1:{plan.members[0].web_port}/ui/#token={token}")
        assert "token=" not in browser.driver.current_url
        first = int(await browser.wait_text("#stat-height", lambda t: t.isdigit() and int(t) >= 1, "a committed height", 40))
        await browser.wait_text("#stat-height", lambda t: t.isdigit() and int(t) >= first + 2, "the height to advance under load", 30)
        await browser.wait("the block table", lambda dr: body_rows(dr, "blocks") >= 2)
        await browser.wait(f"{VALIDATORS} validators", lambda dr: body_rows(dr, "validators") == VALIDATORS)
        await browser.wait("live validators", lambda dr: dr.find_element("id", "validators").text.count("live") >= 3)
        await browser.wait("entities from the load", lambda dr: body_rows(dr, "entities") >= 1, 30)
        await browser.wait("DLQ counts", lambda dr: body_rows(dr, "dlq") >= 1 and "3 rejected" in dr.find_element("id", "dlq").text, 20)
        await browser.wait("the mempool summary", lambda dr: "txs" in dr.find_element("id", "mempool-summary").text)
        assert (await browser.text("#stat-n")).startswith(f"n={VALIDATORS}")
        # a block's detail, with the signers of its certificate
        await browser.click("#blocks tbody tr:nth-child(2) a.block-link")
        detail = await browser.wait_text("#block-detail", lambda t: "Committed by" in t and "signed" in t, "the block detail")
        assert "state root hint" in detail and detail.count(": signed") >= 3, detail
        # its hash recomputed and its certificates' Ed25519 votes verified in the browser
        await browser.wait("a valid block verdict", lambda dr: dr.find_element("id", "block-verdict").get_attribute("data-verdict") == "valid")
        checks = await browser.text("#block-checks")
        assert "block hash = SHA-256" in checks and "QC: certified" in checks and "commit QC: certified" in checks, checks
        # a real entity's reputation, proven in the browser against the block's state root
        await browser.click("#entities tbody tr:first-child button.prove")
        await browser.wait("a valid inclusion proof", lambda dr: verdict(dr) == "valid", 20)
        assert "present" in await browser.text("#proof-result")
        assert "trusted root" in await browser.text("#proof-result")
        # ... and its root is the one a quorum signed (a later block's state root hint)
        certified = await browser.wait_text("#proof-certified", lambda t: t.startswith(("CERTIFIED", "NOT", "No committed")), "the root's certification", 45)
        assert certified.startswith("CERTIFIED"), certified
        # the same proof, tampered (one hex digit of the value's hash): invalid
        await browser.js("""const t = document.getElementById('proof-json'); const a = JSON.parse(t.value);
            const v = a.proof.leaf.value_hash; a.proof.leaf.value_hash = (v[0] === 'a' ? 'b' : 'a') + v.slice(1);
            t.value = JSON.stringify(a);""")
        await browser.click("#proof-raw summary")
        await browser.click("#proof-verify")
        await browser.wait("an invalid verdict for the tampered proof", lambda dr: verdict(dr) == "invalid")
        # an absent key is proven absent
        await browser.type("#proof-key", f"rep/nobody-{tag}")
        await browser.click("#proof-lookup")
        await browser.wait_text("#proof-result", lambda t: t.startswith("VALID") and "absent" in t, "a valid absence proof")
        await browser.click("#block-detail-close")
        errors = [e for e in browser.console() if e["level"] == "SEVERE" and "Failed to load resource" not in e["message"]]
        assert errors == [], errors
    finally:
        with contextlib.suppress(Exception):
            await browser.js("window.scrollTo(0, 0)")
            await browser.screenshot("localnet")
        if load is not None:
            load.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await load
        down = await cli("localnet", "down", "--dir", str(d), "--purge")
        assert down.returncode == 0, down.stderr
