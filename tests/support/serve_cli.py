"""Raw-socket HTTP exchanges with a server (``serve_process`` starts the real one).

For the tests of what a client can do to the server's connections (oversized or slow request
heads, bodies that never end, file descriptors): a client that can misbehave byte by byte.
"""

from __future__ import annotations

import socket
import time
from contextlib import suppress
from dataclasses import dataclass


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


__all__ = ["Exchange", "exchange", "head"]
