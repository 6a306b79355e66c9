"""Errors answered before any stream, in the shape of the endpoint family they hit, one wording.

Before: ``server/errors.py`` chose the shape by a ``/v1/`` path prefix while the dialects chose
their own; the OpenAI shape prefixed the code to the message after the headers and for the
engine's errors ("upstream_timeout: the model stopped...") but not for routing's ("unknown
model ..."), so a ``/v1`` 404 and a ``/v1`` 504 read differently; the native JSON body lacked
the ``retry_after`` and ``request_id`` its error frame has; ``GET /v1/models/{id}`` answered an
unknown model with its own code and words; a route's unexpected failure was a text/plain 500.
Here every situation is asked of both families: the native one must answer in the native
shape, ``/v1`` in OpenAI's, with the same code, status and message.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aichatflow.messages import ChatRequest
from aichatflow.server import create_app
from aichatflow.server.errors import error_shape_for
from tests.conftest import make_settings
from tests.support.client import user
from tests.support.server import LogCapture, RunningServer
from tests.support.upstream import FakeUpstream, Script, stall

from .wire import Answer, assert_error_response, read

NATIVE, OPENAI = "/api/chat", "/v1/chat/completions"
JSON = {"content-type": "application/json"}


def _body(**extra: Any) -> bytes:
    return orjson.dumps({"model": "up/m", "messages": user(), "stream": True, **extra})


@pytest.fixture
def server(start_server: Callable[..., RunningServer], fake: FakeUpstream) -> RunningServer:
    provider = fake.openai_provider()
    running = start_server(
        providers={"up": provider},
        max_body_bytes=4096,
        http={"body_timeout": 1},
        stream={"first_token": 0.5},
    )
    return running


def _request(server: RunningServer, method: str, path: str, **kw: Any) -> Answer:
    with (
        httpx.Client(timeout=10) as client,
        client.stream(method, server.url + path, **kw) as response,
    ):
        return read(response)


def _post(server: RunningServer, path: str, content: bytes, **headers: str) -> Answer:
    return _request(server, "POST", path, content=content, headers={**JSON, **headers})


def _slow_body(server: RunningServer, path: str) -> Answer:
    """Declares 100 bytes, sends 20, then waits past ``body_timeout`` (1 s)."""
    head = (
        f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        "content-length: 100\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head + b'{"model": "up/m", ')
        received = b""
        while b"\r\n\r\n" not in received or not received.endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    head_bytes, _, body = received.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    fields = [tuple(line.split(": ", 1)) for line in lines[1:]]
    return Answer(int(lines[0].split()[1]), httpx.Headers(fields), body)


# Each situation: how to cause it at a chat endpoint (or under its family's prefix), the code,
# and what its message must say.
Cause = Callable[[RunningServer, str], Answer]
SITUATIONS: dict[str, tuple[Cause, str, str]] = {
    "unknown path": (
        lambda s, p: _request(s, "GET", p.rsplit("/", 1)[0] + "/nope"),
        "not_found",
        "Not Found",
    ),
    "wrong method": (lambda s, p: _request(s, "GET", p), "method_not_allowed", "Not Allowed"),
    "body too large": (
        lambda s, p: _post(s, p, b"x" * 5000),
        "body_too_large",
        "the request body is larger than 4096 bytes",
    ),
    "not JSON content type": (
        lambda s, p: _post(s, p, _body(), **{"content-type": "text/plain"}),
        "unsupported_media_type",
        "Content-Type must be application/json, not 'text/plain'",
    ),
    "host not allowed": (
        lambda s, p: _post(s, p, _body(), host="evil.example"),
        "bad_request",
        "Host 'evil.example' is not one this server answers to; add it to allowed_hosts",
    ),
    "invalid JSON": (
        lambda s, p: _post(s, p, b'{"model": '),
        "bad_request",
        "request body is not valid JSON",
    ),
    "schema": (
        lambda s, p: _post(s, p, orjson.dumps({"model": "up/m", "messages": []})),
        "validation_failed",
        "invalid request: messages: List should have at least 1 item after validation, not 0",
    ),
    "unknown model": (
        lambda s, p: _post(s, p, _body(model="nowhere/x")),
        "unknown_model",
        "unknown model 'nowhere/x'; known providers and aliases: mock, up",
    ),
    "slow body": (_slow_body, "request_timeout", "the request body was not received within 1 s"),
}


@pytest.mark.parametrize("situation", sorted(SITUATIONS))
def test_each_family_answers_in_its_shape_with_one_wording(
    server: RunningServer, fake: FakeUpstream, server_logs: LogCapture, situation: str
) -> None:
    cause, code, message = SITUATIONS[situation]
    native = cause(server, NATIVE)
    v1 = cause(server, OPENAI)
    native_error = assert_error_response(native, code, openai=False)
    v1_error = assert_error_response(v1, code, openai=True)
    assert native_error["message"] == v1_error["message"], situation
    assert message in native_error["message"]
    if code == "method_not_allowed":
        assert native.headers["allow"] == v1.headers["allow"] == "POST"
    if code == "validation_failed":
        assert native_error["details"] == v1_error["details"]
        assert native_error["details"][0]["loc"] == ["messages"]
    assert fake.connections == 0  # none of these reached the upstream
    assert "Traceback" not in server_logs.text()


def test_an_unknown_model_reads_the_same_in_the_model_route(server: RunningServer) -> None:
    """``GET /v1/models/{id}`` used to answer ``model_not_found``, "The model `x` does not
    exist": another code and other words than a chat request for the same model."""
    got = _request(server, "GET", "/v1/models/nowhere/x")
    error = assert_error_response(got, "unknown_model", openai=True)
    assert error["message"] == "unknown model 'nowhere/x'"


def test_a_v1_504_and_a_native_timeout_say_the_same(
    server: RunningServer, fake: FakeUpstream
) -> None:
    """The upstream answers nothing within ``first_token`` (0.5 s): on ``/v1`` a 504 before
    the headers (stream or not), natively an ``error`` frame; one message."""
    fake.default = Script([stall(5)])
    streamed = _post(server, OPENAI, _body())
    whole = _post(server, OPENAI, _body(stream=False))
    native = _post(server, NATIVE, _body())
    messages = {
        assert_error_response(streamed, "upstream_timeout", openai=True)["message"],
        assert_error_response(whole, "upstream_timeout", openai=True)["message"],
        native.frame_error["message"],
    }
    assert native.frame_error["code"] == "upstream_timeout"
    assert messages == {"the model stopped sending within the time limit"}


def test_a_v1_404_and_a_v1_504_are_worded_alike(server: RunningServer, fake: FakeUpstream) -> None:
    """The pair the issue named: neither message carries its code (it has a field of its own)."""
    fake.default = Script([stall(5)])
    not_found = _post(server, OPENAI, _body(model="nowhere/x")).json_error
    timeout = _post(server, OPENAI, _body()).json_error
    for error in (not_found, timeout):
        assert not error["message"].startswith(error["code"]), error


async def _boom(request: Request) -> Response:
    raise RuntimeError("a bug, with a secret sk-live-0123456789abcdef")


@pytest.mark.parametrize(("prefix", "openai"), [("/api", False), ("/v1", True), ("", False)])
def test_an_unexpected_failure_is_a_json_500_in_the_path_shape(
    start_server: Callable[..., RunningServer], prefix: str, openai: bool
) -> None:
    server = start_server()
    app = server.server.config.app
    app.router.routes.append(Route(f"{prefix}/boom", _boom))
    got = _request(server, "GET", f"{prefix}/boom")
    error = assert_error_response(got, "internal_error", openai=openai)
    assert error["message"] == "internal error"
    assert b"sk-live" not in got.body and b"Traceback" not in got.body


@pytest.mark.parametrize("stream", [True, False])
def test_each_chat_endpoint_streams_in_the_shape_its_path_answers_errors_in(stream: bool) -> None:
    """The one prefix map (``server/errors.py``) and the dialect each chat endpoint streams in
    name the same shape: an error reads the same before the stream and in it."""
    app = create_app(make_settings())
    chat = ChatRequest.model_validate({"model": "mock/chat", "messages": user(), "stream": stream})
    for path, endpoint in app.chat_endpoints.items():
        response = endpoint.build(app.state.registry, app.state.limits, chat)
        assert response.dialect.error_shape is error_shape_for(path), path
    assert {error_shape_for(p).name for p in app.chat_endpoints} == {
        "native",
        "openai",
        "anthropic",
    }
