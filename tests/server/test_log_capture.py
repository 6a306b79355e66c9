"""The tests' log capture sees what uvicorn logs about the app, including its tracebacks.

Many tests assert ``"Traceback" not in server_logs.text()``; that only means something if an
exception escaping the app would be captured there.
"""

from __future__ import annotations

import httpx
from starlette.types import Receive, Scope, Send

from tests.support.server import LogCapture, serve


async def _failing_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        raise RuntimeError("boom from the app")


def test_an_exception_escaping_the_app_reaches_server_logs(server_logs: LogCapture) -> None:
    with serve(_failing_app) as running:
        response = httpx.get(running.url + "/", timeout=10)
    assert response.status_code == 500
    text = server_logs.text()
    assert "Exception in ASGI application" in text, text
    assert "Traceback" in text
