"""RELIABILITY T28, the auth matrix, on a real server (uvicorn on 127.0.0.1) in front of a fake
upstream that counts every request it gets.

Every route that wants a key, times every way of not having one (none, malformed, wrong,
revoked, another key's model, an expired ticket, a used ticket), is answered 401 or 403 with a
JSON error, never ``200 text/event-stream``, and the upstream is reached zero times across the
whole matrix. The same routes with a valid key or ticket answer 200 (and the chat routes do
reach the upstream), so the refusals are not the server refusing everything. Tickets are secrets:
no log line of the whole run contains one.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from aichatflow.config import key_digest
from aichatflow.sse import SSEDecoder
from tests.support.client import user
from tests.support.openai_chunks import openai_stream
from tests.support.server import LogCapture, RunningServer
from tests.support.upstream import FakeUpstream, Script

pytestmark = pytest.mark.timeout(60)

GOOD = "acf-matrix-good-key-0123456789abcdefghij"
LIMITED = "acf-matrix-limited-key-0123456789abcdefg"  # may use up/m2 only
REVOKED = "acf-matrix-revoked-key-0123456789abcdefg"
WRONG = "acf-matrix-never-configured-0123456789ab"
TICKET_TTL = 1.5

KEYS = [
    {"id": "good", "sha256": key_digest(GOOD)},
    {"id": "limited", "sha256": key_digest(LIMITED), "models": ["up/m2"]},
    {"id": "revoked", "sha256": key_digest(REVOKED), "disabled": True},
]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    body: dict[str, Any] | None = None

    @property
    def chat(self) -> bool:
        return self.body is not None and "messages" in self.body

    def __str__(self) -> str:
        stream = "" if self.body is None else f" stream={self.body.get('stream')}"
        return f"{self.method} {self.path}{stream}"


CHAT = {"model": "up/m1", "messages": user("hello")}
ROUTES = [
    Route("POST", "/api/chat", CHAT),
    Route("POST", "/v1/chat/completions", {**CHAT, "stream": True}),
    Route("POST", "/v1/chat/completions", {**CHAT, "stream": False}),
    Route("GET", "/v1/models"),
    Route("GET", "/v1/models/up/m1"),
    Route("GET", "/api/config"),
    Route("POST", "/api/tickets", {}),
]


@pytest.fixture
def server(start_server: Callable[..., RunningServer], fake: FakeUpstream) -> RunningServer:
    fake.default = Script(openai_stream(["Hel", "lo"]))
    return start_server(
        providers={"up": fake.openai_provider("m1", "m2")},
        default_model="up/m1",
        auth={"keys": KEYS, "ticket_ttl": TICKET_TTL},
    )


@pytest.fixture
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=15) as client:
        yield client


def routes(http: httpx.Client) -> list[Route]:
    """``ROUTES``, plus ``GET /metrics`` when this tree serves it (behind the key)."""
    metrics = http.get("/metrics", headers={"authorization": f"Bearer {GOOD}"}).status_code
    return ROUTES + ([Route("GET", "/metrics")] if metrics != 404 else [])


def call(
    http: httpx.Client,
    route: Route,
    headers: list[tuple[str, bytes | str]] | None = None,
    params: dict[str, str] | None = None,
) -> httpx.Response:
    return http.request(
        route.method, route.path, json=route.body, headers=headers or [], params=params
    )


@dataclass
class RawResponse:
    status_code: int
    headers: dict[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return orjson.loads(self.content)


def raw_call(
    server: RunningServer, route: Route, headers: list[tuple[bytes, bytes]]
) -> RawResponse:
    """``route`` with ``headers`` exactly as given, on a socket of its own: bytes an HTTP client
    library refuses to send (``Bearer `` with its trailing space, a non-ASCII value) are what a
    hostile client sends."""
    body = b"" if route.body is None else orjson.dumps(route.body)
    head = [
        f"{route.method} {route.path} HTTP/1.1".encode(),
        f"host: 127.0.0.1:{server.port}".encode(),
        b"connection: close",
        f"content-length: {len(body)}".encode(),
    ]
    if route.body is not None:
        head.append(b"content-type: application/json")
    head += [name + b": " + value for name, value in headers]
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
        sock.sendall(b"\r\n".join(head) + b"\r\n\r\n" + body)
        received = bytearray()
        while chunk := sock.recv(65536):
            received += chunk
    status_line, _, rest = bytes(received).partition(b"\r\n")
    fields, _, content = rest.partition(b"\r\n\r\n")
    parsed = dict(
        (name.strip().lower().decode(), value.strip().decode("latin-1"))
        for name, _, value in (line.partition(b":") for line in fields.split(b"\r\n"))
    )
    if parsed.get("transfer-encoding") == "chunked":
        content = _unchunk(content)
    return RawResponse(int(status_line.split()[1]), parsed, content)


def _unchunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return bytes(out)


def mint(http: httpx.Client, key: str = GOOD) -> str:
    response = http.post("/api/tickets", headers={"authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["expires_in"] == TICKET_TTL
    ticket: str = body["ticket"]
    return ticket


def assert_refused(
    response: httpx.Response | RawResponse, status: int, *secrets: str, cell: str
) -> None:
    content_type = response.headers.get("content-type", "")
    assert response.status_code == status, (cell, response.status_code, response.text)
    assert content_type.startswith("application/json"), (cell, content_type)
    body = response.json()
    error = body["error"]
    assert error["code"] in ("unauthorized", "forbidden", "invalid_api_key"), (cell, body)
    assert response.headers.get("x-request-id") or "request_id" in str(body), cell
    for secret in secrets:
        assert secret[:-4] not in response.text, (cell, response.text)
        assert secret[:-4] not in str(response.headers), cell


def test_every_route_refuses_every_missing_or_bad_credential_before_any_upstream_call(
    server: RunningServer, http: httpx.Client, fake: FakeUpstream, server_logs: LogCapture
) -> None:
    expired = [mint(http) for _ in routes(http)]
    used = [mint(http) for _ in routes(http)]
    for ticket in used:
        assert http.get("/api/config", params={"ticket": ticket}).status_code == 200
    time.sleep(TICKET_TTL + 0.3)
    good, wrong, revoked = GOOD.encode(), WRONG.encode(), REVOKED.encode()
    bad_headers: dict[str, list[tuple[bytes, bytes]]] = {
        "none": [],
        "basic": [(b"authorization", b"Basic Z29vZDpnb29k")],
        "bearer without a key": [(b"authorization", b"Bearer")],
        "bearer and a space": [(b"authorization", b"Bearer ")],
        "a key without bearer": [(b"authorization", good)],
        "two authorization headers": [
            (b"authorization", b"Bearer " + good),
            (b"authorization", b"Bearer " + good),
        ],
        "two x-api-key headers": [(b"x-api-key", good), (b"x-api-key", good)],
        "key and x-api-key disagree": [
            (b"authorization", b"Bearer " + good),
            (b"x-api-key", wrong),
        ],
        "non-ascii": [(b"authorization", "Bearer acf-caf\u00e9-0123456789abcdef".encode())],
        "latin-1": [(b"authorization", b"Bearer acf-\xff\xfe-0123456789abcdef")],
        "ten kilobytes": [(b"authorization", b"Bearer " + b"k" * 10_000)],
        "wrong": [(b"authorization", b"Bearer " + wrong)],
        "wrong x-api-key": [(b"x-api-key", wrong)],
        "revoked": [(b"authorization", b"Bearer " + revoked)],
        "revoked x-api-key": [(b"x-api-key", revoked)],
    }
    cells = 0
    for index, route in enumerate(routes(http)):
        for name, headers in bad_headers.items():
            response = raw_call(server, route, headers)
            assert_refused(response, 401, WRONG, REVOKED, cell=f"{route} {name}")
            cells += 1
        for name, ticket in (("expired ticket", expired[index]), ("used ticket", used[index])):
            response = call(http, route, params={"ticket": ticket})
            assert_refused(response, 401, ticket, cell=f"{route} {name}")
            cells += 1
        if route.chat:
            response = call(http, route, [("authorization", f"Bearer {LIMITED}")])
            assert_refused(response, 403, LIMITED, cell=f"{route} another key's model")
            cells += 1
    assert cells >= 7 * 17 + 3
    # An OPTIONS request wants no key, and gets no stream either.
    assert http.options("/api/chat").status_code in (200, 204, 400, 405)
    assert fake.attempts == 0, [r.path for r in fake.requests]
    tickets = expired + used
    logged = server_logs.text()
    assert "route=/api/config" in logged and "status=401" in logged  # the access log ran
    assert not [t for t in tickets if t in logged or t[:12] in logged]
    assert not re.search(r"ticket=(?!\[REDACTED\])", logged)


def test_a_valid_key_or_ticket_opens_every_route(
    server: RunningServer, http: httpx.Client, fake: FakeUpstream, server_logs: LogCapture
) -> None:
    chats = 0
    for route in routes(http):
        for headers in ([("authorization", f"Bearer {GOOD}")], [("x-api-key", GOOD)]):
            response = call(http, route, headers)
            assert response.status_code == 200, (route, response.text)
            chats += route.chat
        if route.path == "/api/tickets":
            continue  # only a key mints (test_only_a_key_mints_tickets)
        ticket = mint(http)
        response = call(http, route, params={"ticket": ticket})
        assert response.status_code == 200, (route, response.text)
        chats += route.chat
        assert_refused(call(http, route, params={"ticket": ticket}), 401, ticket, cell="reuse")
        assert ticket not in server_logs.text()
    stream = call(http, ROUTES[0], [("authorization", f"Bearer {GOOD}")])
    assert stream.headers["content-type"].startswith("text/event-stream")
    events = SSEDecoder().feed(stream.content)
    assert "".join(orjson.loads(e.data)["text"] for e in events if e.event == "text") == "Hello"
    chats += 1
    # The limited key may use the model its globs allow.
    allowed = {**CHAT, "model": "up/m2"}
    response = http.post("/api/chat", json=allowed, headers={"x-api-key": LIMITED})
    assert response.status_code == 200 and "event: done" in response.text
    assert fake.attempts == chats + 1


def test_only_a_key_mints_tickets(
    server: RunningServer, http: httpx.Client, start_server: Callable[..., RunningServer]
) -> None:
    ticket = mint(http)
    chained = http.post("/api/tickets", params={"ticket": ticket})
    assert_refused(chained, 401, ticket, cell="a ticket minting a ticket")
    assert "key" in chained.json()["error"]["message"]
    keyless = start_server(providers={"fast": {"kind": "mock"}}, default_model="fast/chat")
    response = httpx.post(keyless.url + "/api/tickets", timeout=15)
    assert_refused(response, 401, cell="a keyless server mints no tickets")
