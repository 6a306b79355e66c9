"""A reader that stops reading must not grow server memory, and must not hold the upstream.

The engine pulls the provider only after the previous write went through, so a client that
stops reading stops the provider too (backpressure all the way up); after ``send_timeout`` of a
blocked write the stream is dropped and the provider closed. Measured on a real socket whose
receive buffer is tiny and which never reads (docs/reliability.md, T17).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from aichatflow import EventStreamResponse, StreamLimits, TextDelta
from aichatflow.events import ChatEvent
from tests.support.server import serve

TOKEN = "x" * 200  # 200 characters per event, ~250 bytes per frame


class Firehose:
    """A source that could produce 200 MB; records how much it was actually asked for."""

    def __init__(self) -> None:
        self.produced_bytes = 0
        self.closed_at: float | None = None

    async def events(self) -> AsyncIterator[ChatEvent]:
        try:
            for _ in range(1_000_000):
                self.produced_bytes += len(TOKEN)
                yield TextDelta(TOKEN)
        finally:
            self.closed_at = time.monotonic()


def _app(firehose: Firehose, limits: StreamLimits) -> Starlette:
    async def route(request: Request) -> EventStreamResponse:
        return EventStreamResponse(firehose.events(), model="firehose", limits=limits)

    return Starlette(routes=[Route("/stream", route, methods=["POST"])])


def _frozen_client(port: int) -> socket.socket:
    """Connect with a 4 KiB receive buffer, send the request, then never read."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    body = orjson.dumps({})
    sock.sendall(
        b"POST /stream HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n%s" % (len(body), body)
    )
    return sock


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def test_frozen_reader_bounds_buffering_then_is_dropped(server_logs: Any) -> None:
    firehose = Firehose()
    limits = StreamLimits(send_timeout=1.0, heartbeat=0.2)
    with serve(_app(firehose, limits)) as server:
        rss_before = _rss_kib()
        sock = _frozen_client(server.port)
        try:
            await asyncio.sleep(0.6)  # the writer is blocked by now
            held = firehose.produced_bytes
            await asyncio.sleep(0.3)
            assert firehose.produced_bytes == held, "the source kept being pulled while blocked"
            # Kernel socket buffers on loopback plus uvicorn's 64 KiB high-water mark: a few
            # MiB at most, out of the 200 MB the source would produce if pulled freely.
            assert held < 8 * 1024 * 1024
            deadline = time.monotonic() + 5
            while firehose.closed_at is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert firehose.closed_at is not None, "a frozen client must be dropped"
            assert _rss_kib() - rss_before < 20 * 1024
        finally:
            sock.close()
    assert "send timeout" in server_logs.text()
    assert "Traceback" not in server_logs.text()


async def test_slow_reader_gets_coalesced_frames_with_identical_text() -> None:
    """When writes block, what piled up leaves in fewer, bigger frames; the text is the same."""
    from aichatflow.messages import ChatRequest
    from aichatflow.providers.mock import MockProvider

    tokens = 3000
    provider = MockProvider("m", {"tokens_per_second": 20000, "first_token_ms": 0})
    request = ChatRequest.model_validate(
        {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": tokens}
    )

    async def route(req: Request) -> EventStreamResponse:
        return EventStreamResponse(provider.stream(request), model="m/chat")

    app = Starlette(routes=[Route("/s", route, methods=["POST"])])
    expected = "".join([e.text async for e in provider.stream(request) if isinstance(e, TextDelta)])
    with serve(app) as server:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(5)
        sock.connect(("127.0.0.1", server.port))
        sock.sendall(b"POST /s HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n")
        raw = bytearray()
        try:
            while b"event: done" not in raw[-300:]:
                await asyncio.sleep(0.005)  # a reader much slower than 20,000 tokens/s
                chunk = sock.recv(2048)
                assert chunk, "server closed early"
                raw += chunk
        finally:
            sock.close()
    body = bytes(raw).split(b"\r\n\r\n", 1)[1]
    frames = [f for f in _dechunk(body).split(b"\n\n") if b"event: text" in f]
    texts = [orjson.loads(f.split(b"data: ", 1)[1])["text"] for f in frames]
    assert "".join(texts) == expected
    assert len(frames) < tokens / 2  # the same text in far fewer frames


def _dechunk(body: bytes) -> bytes:
    """Undo HTTP/1.1 chunked transfer encoding."""
    out = bytearray()
    while body:
        size_line, body = body.split(b"\r\n", 1)
        size = int(size_line, 16)
        if size == 0:
            break
        out += body[:size]
        body = body[size + 2 :]
    return bytes(out)


async def test_frozen_reader_of_the_server_is_reset_not_left_flushing(server_logs: Any) -> None:
    """After ``send_timeout`` the server's socket is gone at once (RST), not held open to
    flush megabytes the client never reads (found by ``benchmarks/run_slow_client.py``)."""
    from aichatflow.server import create_app
    from tests.conftest import make_settings

    settings = make_settings(
        default_model="fire/x",
        providers={"fire": {"kind": "mock", "tokens_per_second": 0, "first_token_ms": 0}},
        stream={"send_timeout": 1.0, "heartbeat": 0.2},
    )
    with serve(create_app(settings)) as server:
        connections = server.server.server_state.connections
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.port))
        body = orjson.dumps(
            {
                "model": "fire/x",
                "messages": [{"role": "user", "content": "hi"}],
                "max_tokens": 10**6,
            }
        )
        sock.sendall(
            b"POST /api/chat HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(body), body)
        )
        try:
            deadline = time.monotonic() + 6
            while "send timeout" not in server_logs.text() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert "send timeout" in server_logs.text()
            while connections and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert not connections, "the frozen client's connection is still held by the server"
            sock.settimeout(5)
            try:  # the client sees the reset (or, at most, a cut stream): never a clean end
                while sock.recv(1 << 20):
                    pass
                reset = False
            except ConnectionResetError:
                reset = True
            assert reset
        finally:
            sock.close()
    assert "ASGI callable returned without completing response" not in server_logs.text()
    assert "Traceback" not in server_logs.text()


async def test_frozen_reader_of_the_terminal_frame_is_reset(server_logs: Any) -> None:
    """The stream ends (here: the source fails) while the client's buffer is full, so the
    terminal frame's write blocks until ``send_timeout``: the connection is then reset, exactly
    as for a write blocked mid-stream, not left to uvicorn's graceful close (which waited to
    flush megabytes nobody reads and logged "ASGI callable returned without completing
    response")."""
    from aichatflow.errors import UpstreamDisconnected

    async def one_big_delta_then_a_failure() -> AsyncIterator[ChatEvent]:
        yield TextDelta("x" * 8_000_000)  # one write: far past uvicorn's high-water mark
        raise UpstreamDisconnected("the upstream went away")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        """A bare ASGI app: the response gets uvicorn's own ``send`` (a Starlette route's
        middleware would hide it, and with it the transport to reset)."""
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        limits = StreamLimits(send_timeout=0.5, heartbeat=60)
        response = EventStreamResponse(one_big_delta_then_a_failure(), model="m", limits=limits)
        await response(scope, receive, send)

    with serve(app) as server:
        connections = server.server.server_state.connections
        sock = _frozen_client(server.port)
        try:
            deadline = time.monotonic() + 6
            while "failed" not in server_logs.text() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert "upstream_disconnected" in server_logs.text()
            while connections and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert not connections, "the frozen client's connection is still held by the server"
        finally:
            sock.close()
    assert "ASGI callable returned without completing response" not in server_logs.text()
    assert "Traceback" not in server_logs.text()
