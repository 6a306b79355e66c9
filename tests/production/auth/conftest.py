"""The headless-Chromium fixtures of ``tests/browser`` (one browser per module, a fresh page per
test that fails on uncaught script errors), for the key prompt's browser test."""

from tests.browser.conftest import browser, context, page

__all__ = ["browser", "context", "page"]
