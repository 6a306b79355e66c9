"""Security headers of the chat page and its static files.

The page renders text a model wrote (untrusted) and talks to an endpoint that spends provider
keys, so the browser is told to run nothing but the page's own files: no inline script or
style, no other origin to fetch from or frame it, no ``Referer`` leaving with the conversation
in it. ``index.html`` and ``chat.js`` are written for this policy: the script is a file,
styles live in ``chat.css`` (``chat.js`` sets one height through the CSSOM, which
``style-src 'self'`` allows), and the only image is the ``data:`` favicon.
"""

from __future__ import annotations

import os

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    )
)

PAGE_HEADERS: dict[str, str] = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


class PageFiles(StaticFiles):
    """``StaticFiles`` whose responses carry ``PAGE_HEADERS`` (``nosniff`` matters most here:
    ``chat.js`` must never be read as anything but a script)."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(PAGE_HEADERS)
        return response


__all__ = ["CONTENT_SECURITY_POLICY", "PAGE_HEADERS", "PageFiles"]
