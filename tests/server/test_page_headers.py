"""The chat page and its static files carry the security headers (``server/page_headers.py``);
``tests/browser/test_cross_origin.py`` checks in Chromium that the page still works under them."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from aichatflow.server.routes import STATIC

EXPECTED_CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "frame-ancestors": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
}


def _csp(value: str) -> dict[str, list[str]]:
    directives = [d.split() for d in value.split(";") if d.strip()]
    return {d[0]: d[1:] for d in directives}


@pytest.mark.parametrize("path", ["/", "/static/chat.js", "/static/chat.css"])
def test_page_and_static_files_have_the_headers(start_server: Any, path: str) -> None:
    server = start_server()
    r = httpx.get(server.url + path, timeout=10)
    assert r.status_code == 200
    assert _csp(r.headers["content-security-policy"]) == EXPECTED_CSP
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-frame-options"] == "DENY"


def test_a_revalidated_static_file_keeps_them(start_server: Any) -> None:
    server = start_server()
    first = httpx.get(server.url + "/static/chat.js", timeout=10)
    again = httpx.get(
        server.url + "/static/chat.js", headers={"if-none-match": first.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.headers["x-content-type-options"] == "nosniff"


def test_the_page_needs_nothing_the_policy_forbids() -> None:
    """No inline script, inline style or inline event handler in the page's own files."""
    html = (STATIC / "index.html").read_text()
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag, tag
    assert not re.search(r"<script\b[^>]*>\s*[^<\s]", html)  # no inline body
    assert "<style" not in html
    assert not re.search(r"\sstyle\s*=", html)
    assert not re.search(r"\son[a-z]+\s*=", html)
    script = (STATIC / "chat.js").read_text()
    assert (
        "innerHTML" not in script and "eval(" not in script and 'setAttribute("style' not in script
    )
