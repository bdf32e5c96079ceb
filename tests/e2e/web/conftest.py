"""Fixtures of the web view's browser tests: one headless Chromium per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.web.browser import Browser, make_driver


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    driver = make_driver()
    try:
        yield Browser(driver)
    finally:
        driver.quit()
