"""SIGTERM with clients that stopped reading: a prompt, clean exit (``server/resets.py``).

Before: three clients that never read held ``aichatflow serve`` for 15 s after SIGTERM (their
goodbye frames could not be written, and uvicorn's graceful close waited to flush what they never
read), and "ASGI callable returned without completing response" was logged three times; on
granian, 15 s too, until granian killed its worker.
"""

from __future__ import annotations

import asyncio
import importlib.util
import signal
import socket
import sys
import time
from pathlib import Path

import orjson
import pytest

from aichatflow.server.granian_runner import KILL_MARGIN
from aichatflow.server.runner import SHUTDOWN_GRACE, STALLED_WRITE
from tests.support.client import stream_chat, user
from tests.support.serve_process import serve_process

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="signals, SO_RCVBUF")

CONFIG = """
[providers.fast]
kind = "mock"
tokens_per_second = 0
first_token_ms = 0
burst = 1000
[providers.slow]
kind = "mock"
tokens_per_second = 10
first_token_ms = 0
"""
NO_GRANIAN = importlib.util.find_spec("granian") is None
NEEDS_GRANIAN = pytest.mark.skipif(NO_GRANIAN, reason="granian is not installed")
SERVERS = ["uvicorn", pytest.param("granian", marks=NEEDS_GRANIAN)]


def _frozen_stream(port: int) -> socket.socket:
    """Open an endless fast stream with a 4 KiB receive buffer, and never read it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    body = orjson.dumps({"model": "fast/chat", "messages": user(), "max_tokens": 10**6})
    sock.sendall(
        b"POST /api/chat HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n%s" % (len(body), body)
    )
    return sock


@pytest.mark.parametrize("server", SERVERS)
async def test_sigterm_lets_go_of_clients_that_stopped_reading(tmp_path: Path, server: str) -> None:
    frozen: list[socket.socket] = []
    with serve_process(tmp_path, CONFIG, server=server) as running:
        try:
            reader = asyncio.create_task(
                stream_chat(running.url, {"model": "slow/chat", "messages": user()})
            )
            frozen = [_frozen_stream(running.port) for _ in range(3)]
            await asyncio.sleep(1.5)  # the fast streams have filled every buffer by now
            assert not reader.done()
            running.proc.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            got = await asyncio.wait_for(reader, 10)
            code = await asyncio.to_thread(running.proc.wait, 20)
            took = time.monotonic() - signalled
        finally:
            for sock in frozen:
                sock.close()
        output = running.output()
    assert code == 0, output
    assert "Traceback" not in output
    # The client that reads still gets its goodbye frame.
    assert got.names()[-1] == "error", got.raw[-300:]
    assert got.data("error")[0]["code"] == "server_shutting_down"
    if server == "granian":
        # Before: 15 s. granian's sockets are out of the app's reach: the worker is killed
        # KILL_MARGIN s after the drain's grace, which resets them.
        assert took < SHUTDOWN_GRACE + KILL_MARGIN + 3, f"exit took {took:.1f} s:\n{output}"
        return
    # Before: 15 s (the drain's grace, then uvicorn's graceful timeout). Now the frozen clients
    # are reset once nothing left their buffers for STALLED_WRITE seconds.
    assert STALLED_WRITE < SHUTDOWN_GRACE
    assert took < SHUTDOWN_GRACE, f"exit took {took:.1f} s:\n{output}"
    assert "reset 3 connection(s) whose client stopped reading" in output
    assert "ASGI callable returned without completing response" not in output
