"""Headless Debian Chromium driven by Playwright's sync API (docs/testing.md, Chromium).

No pytest-playwright: one browser per module, a fresh context and page per test. The browser is
the system's ``/usr/bin/chromium`` (``scripts/peers/chromium.sh``); ``playwright install`` is
never needed. Without it the tests skip, or fail when ``AICHATFLOW_REQUIRE_PEERS=1`` (CI).

The tests are plain sync functions: Playwright's sync API cannot run inside a running asyncio
loop, and pytest-asyncio (auto mode) only gives loops to ``async def`` tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
# Flags known to work headless and offline. The background-networking ones keep Chromium from
# dialling out (every such connection is refused on an offline machine).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGE_TIMEOUT_MS = 10_000


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing: run scripts/peers/chromium.sh"
    if os.environ.get("AICHATFLOW_REQUIRE_PEERS") == "1":
        pytest.fail(message, pytrace=False)
    pytest.skip("run scripts/peers/chromium.sh")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    _require_chromium()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(
        viewport={"width": 960, "height": 720}, color_scheme="light", reduced_motion="reduce"
    )
    ctx.set_default_timeout(PAGE_TIMEOUT_MS)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A page whose uncaught script errors fail the test."""
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    assert not errors, f"uncaught errors in the page: {errors}"
