"""The chat endpoints dispatched ahead of Starlette's stack (``server/chat_endpoint.py``).

What must hold: a user's middleware is never skipped, a body cut short by a leaving client is
not answered (and not logged as an error), and a bug while preparing a stream is a JSON 500 with
no traceback on the wire.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from aichatflow.chat_stream import ChatStream
from aichatflow.messages import ChatRequest
from aichatflow.providers import Registry
from aichatflow.providers.mock import MockProvider
from aichatflow.server import create_app
from tests.conftest import make_settings
from tests.support.client import stream_chat, user
from tests.support.server import serve


class _Recorder:
    """User middleware: records the path of every HTTP request it sees."""

    def __init__(self, app: ASGIApp, seen: list[str]) -> None:
        self.app = app
        self.seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.seen.append(scope["path"])
        await self.app(scope, receive, send)


@pytest.mark.parametrize("path", ["/api/chat", "/v1/chat/completions"])
def test_user_middleware_sees_chat_requests(path: str) -> None:
    seen: list[str] = []
    app = create_app(make_settings())
    app.add_middleware(_Recorder, seen=seen)
    body = {"model": "mock/chat", "messages": user(), "max_tokens": 5, "stream": True}
    with serve(app) as server:
        got = asyncio.run(stream_chat(server.url, body, path=path))
    assert got.status == 200
    assert seen == [path]


class _Broken(MockProvider):
    def stream(self, request: ChatRequest) -> ChatStream:
        raise RuntimeError("secret-detail-123")


def test_a_bug_before_the_stream_is_a_json_500(server_logs: Any) -> None:
    registry = Registry([_Broken("mock")])
    app = create_app(make_settings(), registry=registry)
    with serve(app) as server:
        for path in ("/api/chat", "/v1/chat/completions"):
            body = {"model": "mock/chat", "messages": user()}
            r = httpx.post(server.url + path, json=body, timeout=5)
            assert r.status_code == 500
            assert r.json()["error"]["code"] == "internal_error"
            assert "secret-detail-123" not in r.text
    assert "POST /v1/chat/completions: unexpected error" in server_logs.text()  # logged


def _send_partial_body(port: int, head: Sequence[str], part: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + part)


def test_client_leaving_mid_body_is_not_answered_nor_an_error(server_logs: Any) -> None:
    app = create_app(make_settings())
    with serve(app) as server:
        head = [
            "POST /api/chat HTTP/1.1",
            "host: 127.0.0.1",
            "content-type: application/json",
            "content-length: 500",
        ]
        _send_partial_body(server.port, head, b'{"model": "mock/chat", ')
        # The server still serves others afterwards.
        body = {"model": "mock/chat", "messages": user(), "max_tokens": 3}
        got = asyncio.run(stream_chat(server.url, body))
    assert got.status == 200
    assert "Traceback" not in server_logs.text()
    assert "unexpected error" not in server_logs.text()
