"""``aichatflow serve`` in a subprocess, and raw-socket HTTP exchanges with it.

For the tests of what a client can do to the server's connections (oversized or slow request
heads, bodies that never end, file descriptors): those need the real server process, its real
limits and its own memory, and a client that can misbehave byte by byte.
"""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import free_port, spawn, stop, wait_http_ready

ROOT = Path(__file__).resolve().parents[2]
"""The checkout; the server runs from here, so a relative ``PYTHONPATH=src`` still applies."""
ENV = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and "AICHATFLOW" not in k}


@dataclass
class Serving:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def rss_mib(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))


def _fd_limit(soft: int, hard: int) -> Callable[[], None]:
    def lower() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return lower


@contextmanager
def serving(
    tmp_path: Path,
    config: str = "",
    *,
    server: str = "uvicorn",
    nofile: tuple[int, int] | None = None,
) -> Iterator[Serving]:
    """``aichatflow serve`` with ``config`` (TOML), on a free port; ``nofile``: (soft, hard)
    ``RLIMIT_NOFILE`` for the server process."""
    port = free_port()
    path = tmp_path / "serve.toml"
    path.write_text(f"port = {port}\nauto_detect = false\n{config}")
    log = tmp_path / "serve.log"
    cmd = [sys.executable, "-m", "aichatflow", "serve", "--server", server, "--config", str(path)]
    limit = _fd_limit(*nofile) if nofile else None
    proc = spawn(cmd, cwd=ROOT, env=ENV, log_path=log, preexec_fn=limit)
    try:
        wait_http_ready(proc, f"http://127.0.0.1:{port}/healthz", log, name=server, timeout=30)
        yield Serving(proc, port, log)
    finally:
        stop(proc, timeout=30)


@dataclass
class Exchange:
    """What a raw client got: the bytes, whether the server closed, and when."""

    received: bytes
    closed: bool
    """The server ended the connection (EOF or reset) within the wait."""
    seconds: float
    """From connecting to the server's close (or to giving up)."""

    @property
    def status(self) -> int | None:
        line = self.received.split(b"\r\n", 1)[0].split()
        return int(line[1]) if len(line) > 1 and line[1].isdigit() else None

    @property
    def body(self) -> bytes:
        return self.received.partition(b"\r\n\r\n")[2]


def exchange(
    port: int,
    data: bytes = b"",
    *,
    trickle: bytes = b"",
    every: float = 0.1,
    wait: float = 10.0,
) -> Exchange:
    """Send ``data``, then ``trickle`` one byte per ``every`` seconds (while the server keeps
    the connection), and read until the server closes it or ``wait`` seconds passed."""
    started = time.monotonic()
    received = bytearray()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        with suppress(OSError):  # refused before we were done: its answer is still readable
            sock.sendall(data)
        sock.settimeout(every)
        pending = iter(trickle)
        while time.monotonic() - started < wait:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                byte = next(pending, None)
                if byte is not None:
                    with suppress(OSError):
                        sock.sendall(bytes([byte]))
                continue
            except ConnectionResetError:
                return Exchange(bytes(received), True, time.monotonic() - started)
            if not chunk:
                return Exchange(bytes(received), True, time.monotonic() - started)
            received += chunk
    return Exchange(bytes(received), False, time.monotonic() - started)


def head(path: str = "/healthz", *headers: bytes, method: str = "GET") -> bytes:
    """A request head to ``path`` with a real ``Host`` and ``headers`` (each ``name: value``),
    unterminated: add ``b"\\r\\n"`` to end it."""
    lines = [f"{method} {path} HTTP/1.1".encode(), b"host: 127.0.0.1", *headers]
    return b"".join(line + b"\r\n" for line in lines)


__all__ = ["ENV", "ROOT", "Exchange", "Serving", "exchange", "head", "serving"]
