"""Negative controls: nginx's default buffering is on in the test configuration, and what
``X-Accel-Buffering: no`` changes for aichatflow's streams behind it.

Two ways buffering shows, measured with nginx 1.22 (Debian):

* a response nginx cannot frame by itself (no ``Transfer-Encoding: chunked``, no length: the
  body ends when the connection closes) is held whole, its headers too, until it ends. The fake
  upstream answers that way here, straight behind nginx: without the header its deltas arrive
  in one lump at the end; with it, each as it is written. This is the failure the timing checks
  of ``test_behind_nginx.py`` exist to catch, so it shows they can fail.
* uvicorn frames every streamed body in chunks, and nginx forwards each complete chunk at once
  even while buffering, so aichatflow's deltas are not late without the header either. What
  buffering does to them instead: nginx reads ahead of a client that does not keep up, into
  memory and then temporary files (up to 1 GiB a response by default), so the server never sees
  the client is stuck. With the header nginx reads only as fast as the client takes, and never
  spools.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.nginx import Nginx
from tests.support.server import LogCapture, serve
from tests.support.upstream import (
    Action,
    Chunks,
    FakeUpstream,
    Script,
    data,
    done,
    end_chunked,
    event,
    headers,
    mark,
    sleep,
)
from tests.upstream._client import NATIVE, chat

from ._streams import CHAT, DELTA_WITHIN, GAP, READ_TIMEOUT, aichatflow_app, without_header

SPOOLED = "an upstream response is buffered to a temporary file"
"""nginx's error-log warning when buffering wrote a response to disk."""


def close_delimited_stream(deltas: int, *, opt_out: bool) -> Script:
    """Event-stream frames ``GAP`` apart in a body that ends with the connection (HTTP/1.0
    style), with ``X-Accel-Buffering: no`` when ``opt_out``; write times marked ``d0``..."""
    extra = {"x-accel-buffering": "no"} if opt_out else {}
    steps: list[Action] = [headers(200, chunked=False, extra=extra)]
    for i in range(deltas):
        steps += [mark(f"d{i}"), data(f"<{i}>"), sleep(GAP)]
    return Script(steps)


@pytest.mark.parametrize("opt_out", [True, False], ids=["x-accel-buffering-no", "no-header"])
async def test_nginx_holds_a_close_delimited_stream_unless_it_opts_out(
    fake: FakeUpstream, nginx: Callable[..., Nginx], opt_out: bool
) -> None:
    deltas = 4
    fake.queue(close_delimited_stream(deltas, opt_out=opt_out))
    proxy = nginx([fake.port], read_timeout=READ_TIMEOUT)
    result = await chat(proxy.url, NATIVE, body=CHAT, timeout=15.0)
    assert result.status == 200
    assert [f.data for f in result.frames] == [f"<{i}>" for i in range(deltas)]
    marks = fake.requests[0].marks
    lateness = [f.at - marks[f"d{i}"] for i, f in enumerate(result.frames)]
    if opt_out:
        assert max(lateness) < DELTA_WITHIN, [f"{late:.3f}" for late in lateness]
    else:
        last = marks[f"d{deltas - 1}"]
        assert result.frames[0].at > last, f"not held: first delta {lateness[0]:.3f}s late"
        assert lateness[0] > (deltas - 1) * GAP - DELTA_WITHIN


def spool_bytes() -> int:
    """More than the kernel can hold in flight from aichatflow to a client that stopped reading:
    aichatflow's send buffer and nginx's towards the client (each grows up to the largest TCP
    send buffer), nginx's receive buffer from aichatflow (it grows up to the largest receive
    buffer, though nginx itself reads no further ahead than its client), plus 1 MiB. Measured:
    nginx spooled 5 MB but not 2 MB with a 4 MiB send maximum; and once in a CI run the 9 MiB
    that twice the send maximum plus 1 MiB made all fitted in flight, with a 32 MiB receive
    maximum."""
    wmem = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    rmem = int(Path("/proc/sys/net/ipv4/tcp_rmem").read_text().split()[2])
    return 2 * wmem + rmem + (1 << 20)


def bulk_stream(total: int) -> Script:
    """An OpenAI stream of about ``total`` bytes of text, as fast as the fake can write it."""
    c, piece = Chunks(), "x" * 16384
    steps: list[Action] = [headers(200), event(c.role())]
    steps += [event(c.content(piece)) for _ in range(total // len(piece) + 1)]
    return Script([*steps, event(c.finish()), done(), end_chunked()], linger=30.0)


def stalled_chat(port: int) -> socket.socket:
    """A native chat request from a client with a tiny receive buffer that reads nothing yet."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    body = json.dumps(CHAT).encode()
    head = f"POST {NATIVE} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
    head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    sock.sendall(head.encode() + body)
    return sock


def read_all(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    received = bytearray()
    with contextlib.suppress(ConnectionError):
        while chunk := sock.recv(1 << 20):
            received += chunk
    return bytes(received)


async def stream_outcome(logs: LogCapture, within: float) -> str:
    """The ``outcome`` of the access-log line of the (one) stream, once it is written."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for record in list(logs.records):
            if record.name == "aichatflow.access" and "outcome=" in record.getMessage():
                return record.getMessage().rsplit("outcome=", 1)[1].split()[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no access-log line within {within} s:\n{logs.text()}")


SEND_TIMEOUT = 2.0


@pytest.mark.parametrize("strip", [False, True], ids=["x-accel-buffering-no", "header-stripped"])
async def test_behind_nginx_a_stuck_client_is_seen_only_with_x_accel_buffering(
    fake: FakeUpstream, nginx: Callable[..., Nginx], server_logs: LogCapture, strip: bool
) -> None:
    """A client that stops reading while the model writes more than the sockets on the way
    hold. With the header, nginx reads no further ahead than the client, so aichatflow's writes
    block and its send timeout ends the stream (``send_timeout``), nothing spooled. Without
    it, nginx spools the stream to disk and aichatflow finishes it (``done``) for a client that
    has read almost nothing: it can no longer tell."""
    total = spool_bytes()
    fake.queue(bulk_stream(total))
    app = aichatflow_app(fake, send_timeout=SEND_TIMEOUT)
    with serve(without_header(app, b"x-accel-buffering") if strip else app) as server:
        proxy = nginx([server.port], read_timeout=30.0)
        sock = stalled_chat(int(proxy.url.rsplit(":", 1)[1]))
        try:
            outcome = await stream_outcome(server_logs, within=SEND_TIMEOUT + 20.0)
            received = await asyncio.to_thread(read_all, sock, 30.0)
        finally:
            sock.close()
    log = proxy.error_log.read_text()
    assert received.startswith(b"HTTP/1.1 200 "), received[:300]
    if strip:
        assert outcome == "done"
        assert SPOOLED in log, log[-2000:]
        assert len(received) > total
        done_frame = b'event: done\ndata: {"finish_reason":"stop","usage":null}\n\n'
        assert received.endswith(done_frame + b"\r\n0\r\n\r\n"), received[-300:]
    else:
        assert outcome == "send_timeout"
        assert SPOOLED not in log, log[-2000:]
        assert len(received) < total
    assert "Traceback" not in server_logs.text(), server_logs.text()
