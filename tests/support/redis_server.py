"""A real ``redis-server`` for the tests: on a free port of 127.0.0.1, nothing kept on disk.

Started once per session by the ``redis_url`` fixture (``tests/conftest.py``)
with no persistence (``--save ''``, ``--appendonly no``) in a temporary directory, and stopped
at teardown. Without ``redis-server`` (``scripts/peers/redis.sh`` installs it) or the client
(``pip install 'aichatflow[redis]'``) the tests that need it skip, unless
``AICHATFLOW_REQUIRE_PEERS=1`` (CI), where a silent skip would hide that they never ran.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.processes import free_port, spawn, stop

INSTALLER = "scripts/peers/redis.sh"
STARTUP_TIMEOUT = 15.0


def require_redis() -> str:
    """The path of ``redis-server``, once the client is importable too; else skip (or fail)."""
    exe = shutil.which("redis-server")
    why = None
    if exe is None:
        why = f"redis-server is not installed: run {INSTALLER}"
    else:
        try:
            import redis.asyncio  # noqa: F401
        except ImportError:
            why = "the Redis client is not installed: pip install 'aichatflow[redis]'"
    if why is None and exe is not None:
        return exe
    if os.environ.get("AICHATFLOW_REQUIRE_PEERS") == "1":
        pytest.fail(f"{why} (AICHATFLOW_REQUIRE_PEERS=1 forbids skipping)")
    pytest.skip(str(why))


def _answers_ping(port: int, password: str | None = None) -> bool:
    auth = b"" if password is None else f"AUTH {password}\r\n".encode()
    want = b"+OK\r\n+PONG" if password else b"+PONG"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(auth + b"PING\r\n")
            received = b""
            while len(received) < len(want):
                chunk = sock.recv(16)
                if not chunk:
                    break
                received += chunk
            return received.startswith(want)
    except OSError:
        return False


@contextmanager
def redis_process(
    workdir: Path, *, password: str | None = None, port: int | None = None
) -> Iterator[str]:
    """A ``redis-server`` on 127.0.0.1, yielding its URL (with ``password`` in it, when the
    server wants one); stopped on exit. ``port``: a given one (a Redis restarted where clients
    expect it), else a free one."""
    exe = require_redis()
    port = port or free_port()
    log_path = workdir / "redis.log"
    cmd = [
        exe,
        *("--bind", "127.0.0.1", "--port", str(port)),
        *("--save", "", "--appendonly", "no", "--dir", str(workdir)),
        *("--protected-mode", "yes", "--daemonize", "no"),
        *(("--requirepass", password) if password else ()),
    ]
    proc = spawn(cmd, cwd=workdir, env=None, log_path=log_path)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not _answers_ping(port, password):
            if proc.poll() is not None or time.monotonic() > deadline:
                text = log_path.read_text(errors="replace")[-2000:]
                pytest.fail(f"redis-server did not start (exit {proc.poll()}):\n{text}")
            time.sleep(0.02)
        yield f"redis://{f':{password}@' if password else ''}127.0.0.1:{port}/0"
    finally:
        stop(proc, 5.0)
