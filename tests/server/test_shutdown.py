"""SIGTERM with clients that stopped reading: a prompt, clean exit (``server/resets.py``).

Before: three clients that never read held ``aichatflow serve`` for 15 s after SIGTERM (their
goodbye frames could not be written, and uvicorn's graceful close waited to flush what they never
read), and "ASGI callable returned without completing response" was logged three times.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from pathlib import Path

import orjson
import pytest

from aichatflow.server.runner import SHUTDOWN_GRACE, STALLED_WRITE
from tests.support.client import stream_chat, user
from tests.support.processes import free_port, spawn, stop, wait_http_ready

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="signals, SO_RCVBUF")

CONFIG = """
auto_detect = false
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
ENV = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and "AICHATFLOW" not in k}


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


async def test_sigterm_resets_clients_that_stopped_reading(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(CONFIG)
    port = free_port()
    log = tmp_path / "serve.log"
    cmd = [sys.executable, "-m", "aichatflow", "serve", "--port", str(port)]
    proc = spawn([*cmd, "--config", str(config)], cwd=tmp_path, env=ENV, log_path=log)
    frozen: list[socket.socket] = []
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http_ready(proc, url + "/healthz", log, name="serve", timeout=30)
        reader = asyncio.create_task(stream_chat(url, {"model": "slow/chat", "messages": user()}))
        frozen = [_frozen_stream(port) for _ in range(3)]
        await asyncio.sleep(1.5)  # the fast streams have filled every buffer by now
        assert not reader.done()
        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        got = await asyncio.wait_for(reader, 10)
        code = await asyncio.to_thread(proc.wait, 15)
        took = time.monotonic() - signalled
    finally:
        for sock in frozen:
            sock.close()
        stop(proc)
    output = log.read_text(errors="replace")
    assert code == 0, output
    # Before: 15 s (the drain grace, then uvicorn's graceful timeout). Now the frozen clients
    # are reset once their buffers did not move for STALLED_WRITE seconds.
    assert took < SHUTDOWN_GRACE, f"exit took {took:.1f} s:\n{output}"
    assert "reset 3 connection(s) whose client stopped reading" in output
    assert "ASGI callable returned without completing response" not in output
    assert "Traceback" not in output
    assert STALLED_WRITE < SHUTDOWN_GRACE
    # The client that reads still gets its goodbye frame.
    assert got.names()[-1] == "error", got.raw[-300:]
    assert got.data("error")[0]["code"] == "server_shutting_down"
