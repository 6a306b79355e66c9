"""Bad input gets a clear status and a JSON body, before any stream starts; never a traceback."""

from __future__ import annotations

import socket
from typing import Any

import httpx
import orjson
import pytest

from tests.support.client import user


@pytest.fixture
def server(start_server: Any) -> Any:
    return start_server(max_body_bytes=4096)


def _post(server: Any, path: str, content: bytes) -> httpx.Response:
    headers = {"content-type": "application/json"}
    return httpx.post(server.url + path, content=content, headers=headers, timeout=5)


@pytest.mark.parametrize("path", ["/api/chat", "/v1/chat/completions"])
def test_malformed_json_is_400(server: Any, path: str) -> None:
    r = _post(server, path, b'{"model": ')
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "bad_request"


def test_deeply_nested_json_is_400_not_a_crash(server: Any, server_logs: Any) -> None:
    r = _post(server, "/api/chat", b"[" * 2000 + b"]" * 2000)
    assert r.status_code == 400
    assert "Traceback" not in server_logs.text()


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"model": "mock/chat", "messages": []}, "messages"),
        ({"model": "", "messages": user()}, "model"),  # absent is the default model
        ({"model": "mock/chat", "messages": [{"role": "robot", "content": "x"}]}, "role"),
        ({"model": "mock/chat", "messages": user(), "max_tokens": 0}, "max_tokens"),
        ([1, 2], "body"),
    ],
)
def test_schema_errors_are_422_with_a_location(server: Any, body: Any, where: str) -> None:
    r = _post(server, "/api/chat", orjson.dumps(body))
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "validation_failed"
    assert where in error["message"]


def test_too_many_messages_is_422(start_server: Any) -> None:
    server = start_server()
    body = {"model": "mock/chat", "messages": user() * 1001}
    r = _post(server, "/api/chat", orjson.dumps(body))
    assert r.status_code == 422


def test_unknown_model_is_404_in_each_dialect(server: Any) -> None:
    body = orjson.dumps({"model": "nowhere/x", "messages": user()})
    native = _post(server, "/api/chat", body)
    assert native.status_code == 404
    assert native.json()["error"]["code"] == "unknown_model"
    v1 = _post(server, "/v1/chat/completions", body)
    assert v1.status_code == 404
    assert v1.json()["error"]["type"] == "unknown_model"  # OpenAI's error shape
    assert v1.headers["x-should-retry"] == "false"


def test_body_over_limit_with_content_length_is_413(server: Any) -> None:
    r = _post(server, "/api/chat", b"x" * 5000)
    assert r.status_code == 413
    assert "4096" in r.json()["error"]["message"]


def test_chunked_body_over_limit_without_content_length_is_413(server: Any) -> None:
    """The chunked bypass of Content-Length checks (docs/reliability.md, guarantee 7)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(
            b"POST /api/chat HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        piece = b"x" * 1000
        for _ in range(10):
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        sock.sendall(b"0\r\n\r\n")
        response = b""
        while b"\r\n\r\n" not in response or not response.rstrip().endswith(b"}"):
            data = sock.recv(65536)
            if not data:
                break
            response += data
    assert response.startswith(b"HTTP/1.1 413")
    assert b'"code":"body_too_large"' in response


def test_unknown_route_and_method_are_json(server: Any) -> None:
    r = httpx.get(server.url + "/nope", timeout=5)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    r = httpx.get(server.url + "/api/chat", timeout=5)
    assert r.status_code == 405


def test_health_models_and_page(server: Any) -> None:
    assert httpx.get(server.url + "/healthz", timeout=5).json() == {"status": "ok"}
    models = httpx.get(server.url + "/v1/models", timeout=5).json()
    assert models["object"] == "list"
    assert {"mock/chat", "mock/reasoner", "mock/echo"} <= {m["id"] for m in models["data"]}
    page = httpx.get(server.url + "/", timeout=5)
    assert page.status_code == 200 and "<title>" in page.text
    assert httpx.get(server.url + "/static/chat.js", timeout=5).status_code == 200
    config = httpx.get(server.url + "/api/config", timeout=5).json()
    features = {"conversations": False, "resume": False, "ui_chat": True}  # no journal, no store
    assert config == {"default_model": "mock/chat", "features": features}
