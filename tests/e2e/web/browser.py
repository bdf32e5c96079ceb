"""Headless Chromium (Debian's, through scripts/chromium) driven by Selenium, for the web view.

`Browser` wraps a WebDriver with async methods (each Selenium call runs in a thread), so a test
can serve the page from its own event loop while the browser polls it.
"""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / ".local" / "artifacts" / "web"




def chromium_paths() -> tuple[str, str]:
    """(chromium, chromedriver): from CYBERMESH_CHROMIUM / CYBERMESH_CHROMEDRIVER (scripts/test
    exports them), else from `scripts/chromium install` (installs them as root when missing)."""
    b, d = os.environ.get("CYBERMESH_CHROMIUM"), os.environ.get("CYBERMESH_CHROMEDRIVER")
    if b and d:
        return b, d
    done = subprocess.run([str(ROOT / "scripts" / "chromium"), "install"], capture_output=True, text=True,
                          timeout=900, check=False)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"scripts/chromium install failed: {done.stderr.strip()}")
    paths = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    return paths["CHROMIUM"], paths["CHROMEDRIVER"]


def make_driver() -> webdriver.Chrome:
    chromium, chromedriver = chromium_paths()
    opts = Options()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,2000", "--no-first-run", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update"):  # fmt: skip
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=chromedriver, port=free_port(28400, 28500))
    return webdriver.Chrome(options=opts, service=service)


class Browser:
    """Async facade over one WebDriver session."""

    def __init__(self, driver: webdriver.Chrome) -> None:
        self.driver = driver

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    async def get(self, url: str) -> None:
        await self.call(self.driver.get, url)

    async def js(self, script: str, *args: Any) -> Any:
        return await self.call(self.driver.execute_script, script, *args)

    async def js_async(self, script: str, *args: Any) -> Any:
        return await self.call(self.driver.execute_async_script, script, *args)

    async def find(self, css: str) -> WebElement:
        return await self.call(self.driver.find_element, By.CSS_SELECTOR, css)  # type: ignore[no-any-return]

    async def find_all(self, css: str) -> list[WebElement]:
        return await self.call(self.driver.find_elements, By.CSS_SELECTOR, css)  # type: ignore[no-any-return]

    async def text(self, css: str) -> str:
        return await self.call(lambda: self.driver.find_element(By.CSS_SELECTOR, css).text)  # type: ignore[no-any-return]

    async def attr(self, css: str, name: str) -> str | None:
        return await self.call(lambda: self.driver.find_element(By.CSS_SELECTOR, css).get_attribute(name))  # type: ignore[no-any-return]

    async def click(self, css: str) -> None:
        """Click like a user: the element scrolled to mid-window first (the page's sticky
        header would otherwise take a click on an element at the top edge)."""

        def run() -> None:
            e = self.driver.find_element(By.CSS_SELECTOR, css)
            self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", e)
            e.click()

        await self.call(run)

    async def type(self, css: str, text: str, *, clear: bool = True) -> None:
        def run() -> None:
            e = self.driver.find_element(By.CSS_SELECTOR, css)
            if clear:
                e.clear()
            e.send_keys(text)

        await self.call(run)

    async def wait(self, what: str, cond: Callable[[webdriver.Chrome], Any], timeout_s: float = 20) -> Any:
        """Wait for `cond(driver)` to be truthy; on timeout, fail naming `what` with the page's
        status lines and console (the screenshot is taken by the test's finally)."""

        def run() -> Any:
            return WebDriverWait(self.driver, timeout_s, poll_frequency=0.2,
                                 ignored_exceptions=(WebDriverException,)).until(cond)  # fmt: skip

        try:
            return await self.call(run)
        except TimeoutException:
            statuses = await self.js("return [...document.querySelectorAll('.status, #banner, #live')].map(e => e.id + ': ' + e.textContent).join(' | ')")
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}; page: {statuses}; console: {self.console()}") from None

    async def wait_text(self, css: str, pred: Callable[[str], bool], what: str, timeout_s: float = 20) -> str:
        def cond(d: webdriver.Chrome) -> str | bool:
            t = d.find_element(By.CSS_SELECTOR, css).text
            return t if pred(t) else False

        return await self.wait(what, cond, timeout_s)  # type: ignore[no-any-return]

    def console(self) -> list[dict[str, Any]]:
        try:
            return self.driver.get_log("browser")  # type: ignore[no-any-return,no-untyped-call]
        except WebDriverException:
            return []

    def _full_page_png(self, path: Path) -> None:
        """The whole page, not only the window (Chrome DevTools: capture beyond the viewport)."""
        m = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
        size = m.get("cssContentSize") or m["contentSize"]
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        })  # fmt: skip
        path.write_bytes(base64.b64decode(shot["data"]))

    async def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}-{time.strftime('%Y%m%dT%H%M%S')}.png"
        await self.call(self._full_page_png, path)
        print(f"\nweb view screenshot: {path}")
        return path
