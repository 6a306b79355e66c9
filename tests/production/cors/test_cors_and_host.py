"""T30 on a real server: CORS by allowlist and the ``Host`` guard, on streaming requests.

The server allows ``https://app.example``. Preflights and actual streaming requests (both chat
endpoints) from that origin, from ``https://evil.example``, from ``Origin: null`` and from
look-alikes: only the allowed one is granted, echoed exactly with ``Vary: Origin``, and never
``*`` beside credentials. A request with ``Host: attacker.example`` to this loopback server is a
400 before anything else runs: no key is asked for and the upstream is never called.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from aichatflow.config import key_digest
from aichatflow.server import create_app
from aichatflow.server.app import production_parts
from tests.conftest import make_settings
from tests.support.client import user
from tests.support.server import LogCapture, RunningServer, serve
from tests.support.upstream import FakeUpstream, Script, fake_upstream, openai_stream

pytestmark = pytest.mark.timeout(60)

ALLOWED = "https://app.example"
DENIED = [
    "https://evil.example",
    "null",
    "https://app.example.evil.com",
    "https://evil.com/https://app.example",
    "http://app.example",
]
CHAT_PATHS = ["/api/chat", "/v1/chat/completions"]
KEY = "sk-test-cors-0123456789"
CHAT = orjson.dumps({"model": "up/m", "messages": user(), "stream": True})
JSON = {"content-type": "application/json"}


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with fake_upstream(Script(openai_stream(["Hel", "lo"]))) as fake:
        yield fake
    assert not fake.errors, fake.errors


def _server(upstream: FakeUpstream, **more: Any) -> Any:
    settings = make_settings(
        providers={"up": upstream.openai_provider("m")},
        default_model="up/m",
        cors={"allow_origins": [ALLOWED]},
        **more,
    )
    return serve(create_app(settings))


@pytest.fixture
def server(upstream: FakeUpstream, server_logs: LogCapture) -> Iterator[RunningServer]:
    with _server(upstream) as running:
        yield running
    assert "Traceback" not in server_logs.text()


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


def preflight(server: RunningServer, path: str, origin: str) -> httpx.Response:
    headers = {
        "origin": origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type",
    }
    return httpx.options(server.url + path, headers=headers, timeout=10)


def stream(server: RunningServer, path: str, **headers: str) -> tuple[httpx.Response, bytes]:
    """POST a streaming chat request and read the stream to its end."""
    with (
        httpx.Client(timeout=10) as client,
        client.stream(
            "POST",
            server.url + path,
            content=CHAT,
            headers={"content-type": "application/json", **headers},
        ) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        return response, response.read()


def assert_streamed(path: str, body: bytes) -> None:
    assert b"Hel" in body and b"lo" in body, body[-300:]
    assert (b"data: [DONE]" if path.startswith("/v1/") else b"event: done") in body


def assert_never_star_with_credentials(response: httpx.Response) -> None:
    credentials = response.headers.get("access-control-allow-credentials")
    assert credentials is None, credentials  # the API never grants credentials mode
    assert response.headers.get("access-control-allow-origin") != "*"


@pytest.mark.parametrize("path", CHAT_PATHS)
def test_allowed_origin_preflight_and_stream(server: RunningServer, path: str) -> None:
    r = preflight(server, path, ALLOWED)
    assert r.status_code == 204, r.text
    assert r.headers["access-control-allow-origin"] == ALLOWED
    assert "Origin" in [v.strip() for v in r.headers["vary"].split(",")]
    assert r.headers["access-control-allow-methods"] == "GET, POST, OPTIONS"
    assert r.headers["access-control-allow-headers"] == "authorization, content-type"
    assert r.headers["access-control-max-age"] == "600"
    assert_never_star_with_credentials(r)

    response, body = stream(server, path, origin=ALLOWED)
    assert response.status_code == 200
    assert_streamed(path, body)
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "Origin" in [v.strip() for v in response.headers["vary"].split(",")]
    exposed = response.headers["access-control-expose-headers"].split(", ")
    assert {"x-request-id", "retry-after", "x-ratelimit-remaining-requests"} <= set(exposed)
    assert_never_star_with_credentials(response)


@pytest.mark.parametrize("origin", DENIED)
@pytest.mark.parametrize("path", CHAT_PATHS)
def test_other_origins_are_not_granted(
    server: RunningServer, upstream: FakeUpstream, path: str, origin: str
) -> None:
    r = preflight(server, path, origin)
    assert r.status_code == 400
    assert cors_headers(r) == {}
    assert upstream.attempts == 0  # a preflight never reaches the upstream

    # A non-browser client can send any Origin: the stream is served, but grants nothing a
    # browser would let a page of that origin read.
    response, body = stream(server, path, origin=origin)
    assert response.status_code == 200
    assert_streamed(path, body)
    assert cors_headers(response) == {}
    assert response.headers["vary"] == "Origin"


@pytest.mark.parametrize("path", CHAT_PATHS)
def test_no_origin_no_cors(server: RunningServer, path: str) -> None:
    response, body = stream(server, path)
    assert_streamed(path, body)
    assert cors_headers(response) == {}


def test_off_by_default(upstream: FakeUpstream) -> None:
    settings = make_settings(providers={"up": upstream.openai_provider("m")}, default_model="up/m")
    with serve(create_app(settings)) as server:
        response, body = stream(server, "/api/chat", origin=ALLOWED)
        assert_streamed("/api/chat", body)
        assert cors_headers(response) == {} and "vary" not in response.headers
        r = preflight(server, "/api/chat", ALLOWED)
        assert cors_headers(r) == {}
        assert r.status_code == 405  # no CORS: an OPTIONS is just a method the route lacks


def test_wildcard_streams_with_star_and_no_credentials(upstream: FakeUpstream) -> None:
    settings = make_settings(
        providers={"up": upstream.openai_provider("m")},
        default_model="up/m",
        cors={"allow_origins": ["*"]},
    )
    with serve(create_app(settings)) as server:
        for origin in (ALLOWED, "https://evil.example"):
            response, body = stream(server, "/v1/chat/completions", origin=origin)
            assert_streamed("/v1/chat/completions", body)
            assert response.headers["access-control-allow-origin"] == "*"
            assert "access-control-allow-credentials" not in response.headers
            r = preflight(server, "/v1/chat/completions", origin)
            assert r.status_code == 204
            assert r.headers["access-control-allow-origin"] == "*"
            assert "access-control-allow-credentials" not in r.headers


@pytest.mark.parametrize("path", [*CHAT_PATHS, "/v1/models", "/"])
@pytest.mark.parametrize("origin", [None, ALLOWED, "https://evil.example"])
def test_a_foreign_host_is_refused_before_cors_keys_and_upstream(
    upstream: FakeUpstream, server_logs: LogCapture, path: str, origin: str | None
) -> None:
    """Keys are on, and no key is sent: a 400 for the ``Host``, not a 401, and no grant."""
    auth = {"keys": [{"id": "k", "sha256": key_digest(KEY)}]}
    keys_built = production_parts(make_settings(auth=auth)).keys is not None
    with _server(upstream, auth=auth) as server:
        headers = {"host": "attacker.example", "content-type": "application/json"}
        if origin is not None:
            headers["origin"] = origin
        method = "POST" if path in CHAT_PATHS else "GET"
        r = httpx.request(method, server.url + path, content=CHAT, headers=headers, timeout=10)
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert error["code"] == "bad_request" and "allowed_hosts" in error["message"]
        assert cors_headers(r) == {}
        pre = preflight_with_host(server, path, origin or ALLOWED, "attacker.example")
        assert pre.status_code == 400 and cors_headers(pre) == {}

        # Controls by the server's address: without a key, the keys part (when it is built)
        # answers 401, so the 400 above came before it; with the key, the stream is served.
        if keys_built:
            r = httpx.request(method, server.url + path, content=CHAT, headers=JSON, timeout=10)
            assert r.status_code == (200 if path == "/" else 401), r.text
        if path in CHAT_PATHS:
            good = {"authorization": f"Bearer {KEY}", **({"origin": origin} if origin else {})}
            _, body = stream(server, path, **good)
            assert_streamed(path, body)
    assert upstream.attempts == (1 if path in CHAT_PATHS else 0)
    assert upstream.connections == upstream.attempts
    assert "Traceback" not in server_logs.text()


def preflight_with_host(server: RunningServer, path: str, origin: str, host: str) -> httpx.Response:
    headers = {"host": host, "origin": origin, "access-control-request-method": "POST"}
    return httpx.options(server.url + path, headers=headers, timeout=10)
