"""The refusals written as raw bytes before the app (``server/guarded_protocol.py``) are the same
error responses the app writes: the code's status, the shape of the path's dialect.

Before: the protocol built its own JSON (``{"code", "message", "retryable"}`` or OpenAI's by a
``/v1/`` prefix test of its own), with no ``x-request-id``, no ``x-should-retry`` under ``/v1``,
a ``Retry-After`` only when the status was 503, and bytes that were not HTTP got uvicorn's
plain-text 400.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import orjson
import pytest

from aichatflow.config import HttpSettings
from aichatflow.server import create_app
from tests.conftest import make_settings
from tests.support.client import user
from tests.support.serve_cli import Exchange, exchange, head
from tests.support.server import RunningServer, serve

from .wire import Answer, assert_error_response

PATHS = [("/api/config", False), ("/v1/models", True)]


@pytest.fixture
def server() -> Iterator[RunningServer]:
    settings = make_settings(
        providers={"slow": {"kind": "mock", "tokens_per_second": 5, "first_token_ms": 0}}
    )
    http = HttpSettings(header_timeout=1, max_headers=20, max_connections=1)
    with serve(create_app(settings), http=http) as running:
        yield running


def _answer(got: Exchange) -> Answer:
    head_bytes, _, body = got.received.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    fields = [tuple(line.split(": ", 1)) for line in lines[1:]]
    assert got.closed
    return Answer(got.status or 0, httpx.Headers(fields), body)


@pytest.mark.parametrize(("path", "openai"), PATHS)
def test_too_many_headers_is_431(server: RunningServer, path: str, openai: bool) -> None:
    fields = [b"x-%d: y" % i for i in range(30)]
    got = _answer(exchange(server.port, head(path, *fields) + b"\r\n"))
    error = assert_error_response(got, "headers_too_large", openai=openai)
    assert error["message"] == "more than 20 header fields"
    assert got.headers["connection"] == "close"
    assert int(got.headers["content-length"]) == len(got.body)


@pytest.mark.parametrize(("path", "openai"), PATHS)
def test_a_head_too_slow_is_408(server: RunningServer, path: str, openai: bool) -> None:
    got = _answer(exchange(server.port, head(path), trickle=b"x-slow: " + b"z" * 100))
    error = assert_error_response(got, "request_timeout", openai=openai)
    assert error["message"] == "the request head was not received within 1 s"


@pytest.mark.parametrize(("path", "openai"), PATHS)
def test_bytes_that_are_not_http_are_a_json_400(
    server: RunningServer, path: str, openai: bool
) -> None:
    broken = f"GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nno colon here\r\n\r\n".encode()
    got = _answer(exchange(server.port, broken, wait=5))
    error = assert_error_response(got, "bad_request", openai=openai)
    assert error["message"] == "the request is not valid HTTP"


def test_garbage_without_a_path_gets_the_native_shape(server: RunningServer) -> None:
    got = _answer(exchange(server.port, b"\x16\x03\x01 not http at all\r\n\r\n", wait=5))
    assert_error_response(got, "bad_request", openai=False)


def test_over_capacity_is_503_with_retry_after_in_the_path_shape(server: RunningServer) -> None:
    """``max_connections = 1`` and one stream running: a newcomer is read (it might be a
    health probe) and answered 503 ``over_capacity`` in its path's shape."""
    body = orjson.dumps({"model": "slow/chat", "messages": user()})
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as busy:
        post = head("/api/chat", b"content-type: application/json", method="POST")
        busy.sendall(post + b"content-length: %d\r\n\r\n%s" % (len(body), body))
        assert busy.recv(100).startswith(b"HTTP/1.1 200")
        time.sleep(0.1)
        for path, openai in PATHS:
            got = _answer(exchange(server.port, head(path) + b"\r\n", wait=5))
            error = assert_error_response(got, "over_capacity", openai=openai, retry_after="1")
            assert error["message"] == "too many connections; retry shortly"
            if not openai:
                assert error["retry_after"] == 1
        health = exchange(server.port, head("/healthz") + b"\r\n", wait=5)
        assert health.status == 200
