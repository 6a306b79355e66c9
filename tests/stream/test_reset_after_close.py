"""Clients that stop reading and then leave just as their send timeout expires.

When the server learns that a client has gone in the loop iteration before the watchdog finds
that client's write blocked past ``send_timeout`` (a busy loop makes that likely: timers run
first in an iteration, before the engine's task can see that its write ended), the send
timeout resets a connection that is already closed, whose socket has no file descriptor any
more. That raised ``ValueError: negative file descriptor`` out of ``setsockopt``: a traceback
per stream in the server's log (18 with 50 such clients in one run).
"""

from __future__ import annotations

import asyncio
import random
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from aichatflow import EventStreamResponse, StreamLimits, TextDelta
from aichatflow.events import ChatEvent
from tests.support.serve_process import raw_chat_request, serve_process
from tests.support.server import LogCapture, serve

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_RCVBUF")

SEND_TIMEOUT = 1.0
CONFIG = (
    f"[stream]\nsend_timeout = {SEND_TIMEOUT}\n"
    '[providers.fast]\nkind = "mock"\ntokens_per_second = 0\nfirst_token_ms = 0\nburst = 8\n'
)


async def _stop_reading_then_leave(port: int, leave_after: float) -> None:
    """Ask for a long answer, read nothing, close ``leave_after`` seconds later."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the server blocks sooner
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, ("127.0.0.1", port))
        await loop.sock_sendall(sock, raw_chat_request("fast/chat", max_tokens=1_000_000))
        await asyncio.sleep(leave_after)
    finally:
        sock.close()  # unread data: the kernel answers with a RST


async def _poll_healthz(url: str, until: asyncio.Future[None]) -> list[float]:
    """How long each ``/healthz`` took while ``until`` runs (5 s stands for "5 s or more")."""
    waits = []
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:
        while not until.done():
            started = time.monotonic()
            try:
                assert (await client.get("/healthz")).status_code == 200
            except httpx.TimeoutException:
                waits.append(5.0)
                break
            waits.append(time.monotonic() - started)
            await asyncio.sleep(0.05)
    return waits


async def test_leaving_at_the_send_timeout_is_no_error(tmp_path: Path) -> None:
    """50 such clients on the real command. ``/healthz`` took 5 s and more here once (10 s in
    the report): uvicorn's ``send`` returns at once for a client that has gone, and the
    full-speed mock never suspended, so every abandoned stream rendered the rest of its answer
    to nobody without letting the loop run, not even the task that would notice the client
    leaving (``providers/mock.py``, ``MAX_HOLD``)."""
    rng = random.Random(7)
    with serve_process(tmp_path, CONFIG) as server:
        clients = asyncio.gather(
            *(
                # around the moment the send timeout fires: the writes block within a few
                # hundred ms of the request, the watchdog looks every tenth of the timeout
                _stop_reading_then_leave(server.port, SEND_TIMEOUT * rng.uniform(0.9, 1.6))
                for _ in range(50)
            )
        )
        waits = await _poll_healthz(server.url, clients)
        await clients
        await asyncio.sleep(0.5)  # the server logs the last streams' ends
        output = server.output()
    assert "Traceback" not in output, output[-4000:]
    assert "negative file descriptor" not in output
    assert waits, "no health check ran while the clients were connected"
    # The failure held /healthz 5 s and more; 2 s leaves a busy machine room.
    assert max(waits) < 2.0, f"/healthz waits, s: {[round(w, 3) for w in waits]}"


async def _firehose() -> AsyncIterator[ChatEvent]:
    for _ in range(1_000_000):
        yield TextDelta("x" * 200)


def _app(limits: StreamLimits, responses: list[EventStreamResponse]) -> ASGIApp:
    """A bare ASGI app, so the engine gets uvicorn's own ``send`` (a Starlette route wraps it,
    and then nothing is reset at all): ``POST /stream`` is a firehose, ``GET /hold?s=`` blocks
    the server's event loop (no await) for that many seconds, as a busy server does."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/stream":
            response = EventStreamResponse(_firehose(), limits=limits)
            responses.append(response)
            await response(scope, receive, send)
            return
        time.sleep(float(scope["query_string"].decode().partition("=")[2] or 0))
        await PlainTextResponse("held")(scope, receive, send)

    return app


def _frozen_client(port: int) -> socket.socket:
    """Connect with a 4 KiB receive buffer, send the request, then never read."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    body = orjson.dumps({})
    head = b"POST /stream HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
    sock.sendall(head + b"content-length: %d\r\n\r\n%s" % (len(body), body))
    return sock


async def test_send_timeout_of_a_client_that_just_left(server_logs: LogCapture) -> None:
    """The exact order that failed: the client's reset reaches the server while its loop is
    busy; when the loop runs again, the watchdog's (overdue) timer runs before the engine
    learns that its write ended, and finds the write blocked past the timeout."""
    limits = StreamLimits(send_timeout=2.0, heartbeat=60)
    responses: list[EventStreamResponse] = []
    with serve(_app(limits, responses)) as server:
        sock = _frozen_client(server.port)
        await asyncio.sleep(0.4)  # the stream's writes are blocked by now (in a few ms)
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            # 3 s from about 0.45 s on: the send timeout (2 s) expires while the loop is held
            hold = asyncio.create_task(client.get("/hold", params={"s": "3"}))
            await asyncio.sleep(0.5)  # the server's loop is held now
            sock.close()  # unread data: a RST, seen by the server when its loop runs again
            assert (await hold).text == "held"
            await asyncio.sleep(0.5)
            assert (await client.get("/hold", params={"s": "0"})).status_code == 200
    # The stream ended as a send timeout (it raised out of the engine before), and was logged.
    assert [r.outcome.status if r.outcome else None for r in responses] == ["send_timeout"]
    logged = server_logs.text()
    assert "send timeout" in logged
    assert "Traceback" not in logged, logged
