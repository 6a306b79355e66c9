"""The chat endpoints take only ``Content-Type: application/json``: 415 otherwise.

A page on any other origin can make a browser send a "simple" ``POST`` (``text/plain``, no
CORS preflight) to a server on localhost. Before this check such a body reached the upstream
with the operator's key; now it is refused before the body is read, and the upstream (a fake
that counts every connection) is never called.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from aichatflow.server import create_app
from tests.conftest import make_settings
from tests.support.client import user
from tests.support.server import LogCapture, serve
from tests.support.upstream import FakeUpstream, Script, openai_stream

NATIVE, OPENAI = "/api/chat", "/v1/chat/completions"
BODY = orjson.dumps({"model": "up/m", "messages": user(), "stream": True})


@pytest.fixture
def upstream_server(start_server: Any, fake: FakeUpstream) -> Any:
    """A server whose ``up/*`` models are the counting fake upstream."""
    provider = {"kind": "openai-compatible", "base_url": f"{fake.url}/v1", "max_retries": 0}
    return start_server(providers={"up": provider})


def _post(url: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(url, content=BODY, headers=headers, timeout=10)


def _assert_415(r: httpx.Response, path: str) -> None:
    assert r.status_code == 415, r.text
    error = r.json()["error"]
    assert error["code"] == "unsupported_media_type"
    assert "application/json" in error["message"]
    if path == OPENAI:  # OpenAI's error shape, so SDKs parse it
        assert error["type"] == "unsupported_media_type"
        assert r.headers["x-should-retry"] == "false"


@pytest.mark.parametrize("path", [NATIVE, OPENAI])
@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain;charset=UTF-8",  # what a browser's fetch() sends for a string body
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonp",
        "application/json-patch+json",
        "",
    ],
)
def test_not_json_is_415_and_never_reaches_the_upstream(
    upstream_server: Any, fake: FakeUpstream, path: str, content_type: str
) -> None:
    r = _post(upstream_server.url + path, {"content-type": content_type})
    _assert_415(r, path)
    assert fake.connections == 0 and fake.attempts == 0


@pytest.mark.parametrize("path", [NATIVE, OPENAI])
def test_a_missing_content_type_is_415(upstream_server: Any, fake: FakeUpstream, path: str) -> None:
    request = httpx.Request("POST", upstream_server.url + path, content=BODY)
    assert "content-type" not in request.headers  # httpx sets none for raw bytes
    with httpx.Client(timeout=10) as client:
        r = client.send(request)
    _assert_415(r, path)
    assert "none was sent" in r.json()["error"]["message"]
    assert fake.connections == 0


@pytest.mark.parametrize("path", [NATIVE, OPENAI])
@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "Application/JSON;Charset=UTF-8"],
)
def test_json_with_or_without_parameters_is_served(
    upstream_server: Any, fake: FakeUpstream, path: str, content_type: str
) -> None:
    fake.queue(Script(openai_stream(["Hi"])))
    r = _post(upstream_server.url + path, {"content-type": content_type})
    assert r.status_code == 200, r.text
    assert "Hi" in r.text
    assert fake.attempts == 1


def test_415_holds_when_user_middleware_turns_the_short_cut_off(server_logs: LogCapture) -> None:
    """With middleware added, the chat endpoints run as ordinary routes: same check."""

    class Passthrough:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            await self.app(scope, receive, send)

    app = create_app(make_settings())
    app.add_middleware(Passthrough)
    with serve(app) as server:
        for path in (NATIVE, OPENAI):
            body = orjson.dumps({"model": "mock/chat", "messages": user()})
            r = httpx.post(server.url + path, content=body, headers={"content-type": "text/plain"})
            _assert_415(r, path)
    assert "Traceback" not in server_logs.text()
