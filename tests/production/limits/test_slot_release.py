"""RELIABILITY T22 through the real server: a stream's slots come back on every exit path.

A key with ``max_streams = 1`` on a server with ``[limits] max_streams = 1``: after each way a
stream can end (or never start), both slot counts are back to zero at once, and a second
request on the same key is admitted. The paths: a normal end, the client closing mid-stream,
the client resetting before the first byte, an upstream 500, an upstream timeout, a 422, an
upstream 401, an exception raised inside the provider, and a frozen client dropped by the send
timeout.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest

from aichatflow.chat_stream import Batch, ChatStream
from aichatflow.config import key_digest
from aichatflow.events import TextDelta
from aichatflow.messages import ChatRequest
from aichatflow.providers.mock import MockProvider
from aichatflow.server import create_app
from aichatflow.server.limits import MemoryLimiter
from tests.conftest import make_settings
from tests.support.server import LogCapture, RunningServer, serve
from tests.support.upstream import FakeUpstream, Script, respond, stall

RAW_KEY = "sk-test-slot-release-0001"
KEY = {"id": "slots", "sha256": key_digest(RAW_KEY), "max_streams": 1}
AUTH = {"authorization": f"Bearer {RAW_KEY}"}
RELEASED_WITHIN = 3.0
"""Seconds within which a stream's slots must be back once its exit path ran (milliseconds on
a quiet machine; a leaked slot never comes back)."""


class _FailingMidStream(MockProvider):
    """A provider whose stream raises a plain bug after its first delta."""

    def stream(self, request: ChatRequest) -> ChatStream:
        async def batches() -> AsyncIterator[Batch]:
            yield [TextDelta("one")]
            raise RuntimeError("a bug inside the provider")

        return ChatStream(batches())


@pytest.fixture
def server(fake: FakeUpstream, server_logs: LogCapture) -> Iterator[RunningServer]:
    settings = make_settings(
        providers={
            "mock": {"kind": "mock", "tokens_per_second": 50, "first_token_ms": 0},
            "slow": {"kind": "mock", "tokens_per_second": 5, "first_token_ms": 1500},
            "fire": {"kind": "mock", "tokens_per_second": 0, "first_token_ms": 0},
            "up": {**fake.openai_provider("m"), "max_retries": 0, "read_timeout": 10},
        },
        stream={"first_token": 1.0, "progress": 1.0, "send_timeout": 1.0, "heartbeat": 0.2},
        limits={"max_streams": 1},
        auth={"keys": [KEY]},
    )
    app = create_app(settings)
    app.state.registry.add(_FailingMidStream("broken"))
    with serve(app) as running:
        running.app = app  # type: ignore[attr-defined]
        yield running


def _limiter(server: RunningServer) -> MemoryLimiter:
    limiter = server.app.gate.parts.limiter  # type: ignore[attr-defined]
    assert isinstance(limiter, MemoryLimiter)
    return limiter


def _body(model: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}


async def _read_all(url: str, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(timeout=15) as client:
        response = await client.post(url + "/api/chat", json=body, headers=AUTH)
        await response.aread()
        return response


async def normal_end(server: RunningServer, fake: FakeUpstream) -> None:
    response = await _read_all(server.url, _body("mock/chat", max_tokens=5))
    assert response.status_code == 200
    assert b"event: done" in response.content


async def client_closes_mid_stream(server: RunningServer, fake: FakeUpstream) -> None:
    async with (
        httpx.AsyncClient(timeout=15) as client,
        client.stream(
            "POST", server.url + "/api/chat", json=_body("mock/chat", max_tokens=500), headers=AUTH
        ) as response,
    ):
        assert response.status_code == 200
        async for chunk in response.aiter_raw():
            if b"event: text" in chunk:
                break  # leave mid-stream: the client closes its connection (FIN)


async def client_resets_before_the_first_byte(server: RunningServer, fake: FakeUpstream) -> None:
    body = orjson.dumps(_body("slow/chat", max_tokens=5))
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(
        b"POST /api/chat HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        b"authorization: Bearer %s\r\ncontent-length: %d\r\n\r\n%s"
        % (RAW_KEY.encode(), len(body), body)
    )
    await _until(lambda: _limiter(server).streams() == 1, "the request was never admitted")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # RST, before the first token (1.5 s away)


async def upstream_500(server: RunningServer, fake: FakeUpstream) -> None:
    fake.queue(Script([respond(500, {"error": {"message": "boom", "type": "server_error"}})]))
    response = await _read_all(server.url, _body("up/m"))
    assert response.status_code >= 500 or b"event: error" in response.content


async def upstream_timeout(server: RunningServer, fake: FakeUpstream) -> None:
    fake.queue(Script([stall(10)]))
    response = await _read_all(server.url, _body("up/m"))
    assert b"timeout" in response.content


async def validation_error(server: RunningServer, fake: FakeUpstream) -> None:
    response = await _read_all(server.url, {"model": "mock/chat", "messages": "nope"})
    assert response.status_code == 422


async def upstream_401(server: RunningServer, fake: FakeUpstream) -> None:
    fake.queue(Script([respond(401, {"error": {"message": "bad key", "type": "auth"}})]))
    response = await _read_all(server.url, _body("up/m"))
    assert response.status_code != 200 or b"event: error" in response.content


async def exception_in_the_provider(server: RunningServer, fake: FakeUpstream) -> None:
    response = await _read_all(server.url, _body("broken/chat"))
    assert response.status_code == 200  # the bug came after the headers
    assert b"internal_error" in response.content
    assert b"a bug inside the provider" not in response.content


async def frozen_client_dropped_by_send_timeout(server: RunningServer, fake: FakeUpstream) -> None:
    body = orjson.dumps(_body("fire/chat", max_tokens=10**6))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    sock.sendall(
        b"POST /api/chat HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        b"authorization: Bearer %s\r\ncontent-length: %d\r\n\r\n%s"
        % (RAW_KEY.encode(), len(body), body)
    )
    try:  # never read: the server's writes block until its send timeout (1 s) drops us
        await _until(lambda: _limiter(server).streams() == 1, "never admitted")
        await _until(lambda: _limiter(server).streams() == 0, "not dropped", timeout=8.0)
    finally:
        sock.close()


async def _until(check: Callable[[], bool], why: str, timeout: float = RELEASED_WITHIN) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, why
        await asyncio.sleep(0.01)


EXIT_PATHS = [
    normal_end,
    client_closes_mid_stream,
    client_resets_before_the_first_byte,
    upstream_500,
    upstream_timeout,
    validation_error,
    upstream_401,
    exception_in_the_provider,
    frozen_client_dropped_by_send_timeout,
]


@pytest.mark.parametrize("exit_path", EXIT_PATHS, ids=lambda f: f.__name__)
async def test_slots_come_back_on_every_exit_path(
    server: RunningServer, fake: FakeUpstream, server_logs: LogCapture, exit_path: Any
) -> None:
    limiter = _limiter(server)
    await exit_path(server, fake)
    await _until(
        lambda: limiter.streams() == 0 and limiter.streams("key:slots") == 0,
        f"a slot is still held after {exit_path.__name__}",
    )
    second = await _read_all(server.url, _body("mock/chat", max_tokens=3))
    assert second.status_code == 200, second.text
    assert limiter.streams() == 0
    assert "Traceback" not in server_logs.text() or exit_path is exception_in_the_provider


async def test_a_held_slot_refuses_the_same_key(server: RunningServer, fake: FakeUpstream) -> None:
    """The control: while the key's one stream runs, a second is refused with 429."""
    async with (
        httpx.AsyncClient(timeout=15) as client,
        client.stream(
            "POST", server.url + "/api/chat", json=_body("mock/chat", max_tokens=500), headers=AUTH
        ) as first,
    ):
        assert first.status_code == 200
        second = await client.post(
            server.url + "/api/chat", json=_body("mock/chat", max_tokens=3), headers=AUTH
        )
        assert second.status_code == 429
        assert second.json()["error"]["code"] == "rate_limited"
        assert second.headers["retry-after"] == "1"
