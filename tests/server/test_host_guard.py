"""A ``Host`` the server is not known by is a 400 on every route, before anything else runs.

DNS rebinding points an attacker's name (``evil.example``) at ``127.0.0.1``: the browser then
sends ``Host: evil.example`` to this server and lets the attacker's page read the answers.
Refusing that ``Host`` (``server/hosts.py``) stops it; IP addresses and ``localhost`` always
pass, and ``allowed_hosts`` adds names.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from aichatflow.errors import ConfigError
from aichatflow.server import create_app
from aichatflow.server.hosts import HostPolicy, hostname
from tests.conftest import make_settings
from tests.support.client import user
from tests.support.processes import free_port, spawn, stop, wait_http_ready
from tests.support.server import LogCapture, RunningServer, serve
from tests.support.upstream import FakeUpstream, Script, openai_stream

NATIVE, OPENAI = "/api/chat", "/v1/chat/completions"
GETS = ["/", "/api/config", "/v1/models", "/static/chat.js", "/static/chat.css", "/nope"]
CHAT = orjson.dumps({"model": "up/m", "messages": user(), "stream": True})
JSON = {"content-type": "application/json"}


@pytest.fixture
def upstream_server(start_server: Any, fake: FakeUpstream) -> Any:
    provider = {
        "kind": "openai-compatible",
        "base_url": f"{fake.url}/v1",
        "max_retries": 0,
        "models": ["m"],  # listed here: the upstream is never asked for its list
    }
    return start_server(providers={"up": provider})


def _get(server: RunningServer, path: str, host: str) -> httpx.Response:
    return httpx.get(server.url + path, headers={"host": host}, timeout=10)


def _chat(server: RunningServer, path: str, host: str) -> httpx.Response:
    headers = {**JSON, "host": host}
    return httpx.post(server.url + path, content=CHAT, headers=headers, timeout=10)


def _assert_host_refused(r: httpx.Response, path: str, host: str) -> None:
    assert r.status_code == 400, (path, host, r.status_code, r.text[:200])
    error = r.json()["error"]
    assert error["code"] == "bad_request"
    assert "allowed_hosts" in error["message"]
    if path.startswith("/v1/"):
        assert error["type"] == "bad_request"  # OpenAI's shape


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "EVIL.example.:80"])
def test_an_unknown_host_is_400_on_every_route_and_never_reaches_the_upstream(
    upstream_server: Any, fake: FakeUpstream, server_logs: LogCapture, host: str
) -> None:
    host = host.format(port=upstream_server.port)
    for path in GETS:
        _assert_host_refused(_get(upstream_server, path, host), path, host)
    for path in (NATIVE, OPENAI):
        _assert_host_refused(_chat(upstream_server, path, host), path, host)
    assert fake.connections == 0
    assert "Traceback" not in server_logs.text()


@pytest.mark.parametrize(
    "host",
    [
        "localhost:{port}",
        "127.0.0.1:{port}",
        "localhost",
        "LocalHost.:{port}",
        "[::1]:{port}",
        "192.168.1.5:{port}",  # any address: it cannot be rebound
        "[2001:db8::1]",
    ],
)
def test_loopback_names_and_addresses_are_served(
    upstream_server: Any, fake: FakeUpstream, host: str
) -> None:
    host = host.format(port=upstream_server.port)
    for path in GETS[:-1]:
        assert _get(upstream_server, path, host).status_code == 200, (path, host)
    fake.queue(Script(openai_stream(["Hi"])), Script(openai_stream(["Hi"])))
    for path in (NATIVE, OPENAI):
        r = _chat(upstream_server, path, host)
        assert r.status_code == 200, (path, host, r.text[:200])
    assert fake.attempts == 2


@pytest.mark.parametrize("host", ["evil.example:abc", "[::1", "::1", "[nothex]:80", "a b", ""])
def test_a_malformed_host_is_400(start_server: Any, host: str) -> None:
    server = start_server()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(
            b"GET /v1/models HTTP/1.1\r\nhost: %s\r\nconnection: close\r\n\r\n" % host.encode()
        )
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]


def test_the_configured_allowlist(start_server: Any) -> None:
    server = start_server(allowed_hosts=["chat.example", "*.corp.example"])
    port = server.port
    for host in ("chat.example", f"CHAT.example:{port}", "a.corp.example", "b.a.corp.example"):
        assert _get(server, "/v1/models", host).status_code == 200, host
        assert _get(server, "/", host).status_code == 200, host
    for host in ("localhost", "127.0.0.1"):  # still served
        assert _get(server, "/v1/models", host).status_code == 200, host
    for host in ("corp.example", "evil.example", "chat.example.evil", "xcorp.example"):
        _assert_host_refused(_get(server, "/v1/models", host), "/v1/models", host)


def test_a_star_accepts_any_host(start_server: Any) -> None:
    server = start_server(allowed_hosts=["*"])
    assert _get(server, "/v1/models", "evil.example").status_code == 200


def test_the_bound_host_name_is_served(start_server: Any) -> None:
    server = start_server(host="box.lan")  # the name the operator bound to
    assert _get(server, "/v1/models", f"box.lan:{server.port}").status_code == 200
    _assert_host_refused(_get(server, "/v1/models", "evil.example"), "/v1/models", "")


def test_healthz_answers_any_host(start_server: Any) -> None:
    """Exempt: it says nothing, and a load balancer's probe sends the Host it is set up with."""
    server = start_server()
    r = _get(server, "/healthz", "probe.internal")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})


def test_a_refused_host_is_answered_before_the_body_is_read(start_server: Any) -> None:
    """The client announces a body and never sends it: the answer comes anyway."""
    server = start_server()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(
            b"POST /api/chat HTTP/1.1\r\nhost: evil.example\r\n"
            b"content-type: application/json\r\ncontent-length: 100000\r\n\r\n{"
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            assert chunk, "connection closed without an answer"
            head += chunk
    assert head.startswith(b"HTTP/1.1 400")


def test_user_middleware_and_the_chat_short_cut_are_both_behind_the_guard() -> None:
    seen: list[str] = []

    class Recorder:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                seen.append(scope["path"])
            await self.app(scope, receive, send)

    app = create_app(make_settings())
    app.add_middleware(Recorder)
    with serve(app) as server:
        body = orjson.dumps({"model": "mock/chat", "messages": user()})
        for path in (NATIVE, OPENAI):
            headers = {**JSON, "host": "evil.example"}
            r = httpx.post(server.url + path, content=body, headers=headers, timeout=10)
            _assert_host_refused(r, path, "evil.example")
        assert _get(server, "/v1/models", "evil.example").status_code == 400
        assert seen == []  # refused before the middleware stack
        assert _get(server, "/v1/models", "localhost").status_code == 200
        assert seen == ["/v1/models"]


def test_a_websocket_with_an_unknown_host_is_refused() -> None:
    app = create_app(make_settings())

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close()

    app.router.routes.append(WebSocketRoute("/ws", echo))
    with serve(app) as server:
        statuses = {}
        for host in ("127.0.0.1", "evil.example"):
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
                sock.sendall(UPGRADE % host.encode())
                statuses[host] = sock.recv(4096).split(b"\r\n", 1)[0]
    assert statuses["127.0.0.1"] == b"HTTP/1.1 101 Switching Protocols"
    assert statuses["evil.example"].startswith(b"HTTP/1.1 403")


UPGRADE = (
    b"GET /ws HTTP/1.1\r\nhost: %s\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
    b"sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n"
)


def test_serve_reads_allowed_hosts_from_the_environment(tmp_path: Path) -> None:
    """``aichatflow serve`` as a user runs it: the variable reaches the guard."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(AICHATFLOW_ALLOWED_HOSTS="chat.example", AICHATFLOW_AUTO_DETECT="0")
    env.update(AICHATFLOW_STORE_URL="off")  # no ./aichatflow.db in the working directory
    env.pop("AICHATFLOW_CONFIG", None)
    cmd = [sys.executable, "-m", "aichatflow", "serve", "--port", str(port)]
    log = tmp_path / "serve.log"
    proc = spawn(cmd, cwd=Path.cwd(), env=env, log_path=log)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http_ready(proc, url + "/healthz", log, name="aichatflow serve", timeout=20)
        with httpx.Client(base_url=url, timeout=10, trust_env=False) as http:
            assert http.get("/v1/models", headers={"host": f"chat.example:{port}"}).is_success
            refused = http.get("/v1/models", headers={"host": "evil.example"})
            assert refused.status_code == 400
    finally:
        stop(proc)
    assert "Traceback" not in log.read_text()


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"localhost", "localhost"),
        (b"LOCALHOST:8080", "localhost"),
        (b"example.com.", "example.com"),
        (b"example.com:", None),
        (b"[::1]:8080", "[::1]"),
        (b"[::1]", "[::1]"),
        (b"[::1]x", None),
        (b"::1", None),
        (b"host:port", None),
        (b"\xff", None),
        (b"", None),
    ],
)
def test_hostname(value: bytes, expected: str | None) -> None:
    assert hostname(value) == expected


def test_the_policy_without_a_server() -> None:
    policy = HostPolicy(["chat.example", "*.corp.example"], bind_host="0.0.0.0")
    assert policy.allows_host(b"10.1.2.3:8080") and policy.allows_host(b"[fe80::1]:1")
    assert policy.allows_host(b"x.corp.example") and not policy.allows_host(b"corp.example")
    assert not policy.allows_host(b"0.0.0.0.evil.example")
    assert not policy.allows_host(b"127.0.0.1.nip.io")  # a name that merely looks like one
    assert not HostPolicy(bind_host="0.0.0.0").allows_host(b"")


def test_the_memo_of_accepted_hosts_stays_small_and_never_holds_a_refusal() -> None:
    policy = HostPolicy()
    for i in range(500):
        assert policy.allows_host(b"10.0.%d.%d:8080" % (i // 256, i % 256))
        assert not policy.allows_host(b"evil%d.example" % i)
    assert len(policy._accepted) == HostPolicy.MEMO_SIZE
    assert not any(b"evil" in value for value in policy._accepted)
    assert policy.allows_host(b"10.9.9.9") and not policy.allows_host(b"evil0.example")


def test_allowed_hosts_from_the_environment_and_bad_entries() -> None:
    from aichatflow.config import Settings

    env = {"AICHATFLOW_ALLOWED_HOSTS": " Chat.example , *.corp.example,"}
    assert Settings.load(env=env).allowed_hosts == ("chat.example", "*.corp.example")
    for bad in ("chat.example:8080", "a*.example", "*example.com"):
        with pytest.raises(ConfigError, match="allowed_hosts"):
            Settings.load(env={"AICHATFLOW_ALLOWED_HOSTS": bad})
