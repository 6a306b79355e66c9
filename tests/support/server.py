"""Run an ASGI app on a real uvicorn server, on 127.0.0.1 and a free port, in a thread.

``httpx.ASGITransport`` buffers whole responses and cannot show streaming, timing or
disconnects (docs/testing.md), so every stream test goes through a real socket.
The server uses aichatflow's own ``Server`` class, so shutdown behaves as in production.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from starlette.types import ASGIApp

from aichatflow.config import HttpSettings
from aichatflow.server.runner import Server, server_config


@dataclass
class RunningServer:
    server: Server
    thread: threading.Thread
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error")
"""Configured by ``uvicorn.Config`` (``logging.config.dictConfig``), which drops every handler
they had, a test's ``LogCapture`` with them: "Exception in ASGI application" tracebacks would go
unseen by the tests that assert there are none."""


def _captures_on(names: tuple[str, ...]) -> list[tuple[str, logging.Handler]]:
    return [
        (name, handler)
        for name in names
        for handler in logging.getLogger(name).handlers
        if isinstance(handler, LogCapture)
    ]


@contextmanager
def serve(
    app: ASGIApp, *, log_level: str = "warning", http: HttpSettings | None = None
) -> Iterator[RunningServer]:
    """Run ``app``; ``http`` sets the limits the guarded protocol enforces before the app."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    captures = _captures_on(_UVICORN_LOGGERS)
    config = server_config(app, host="127.0.0.1", port=port, log_level=log_level, http=http)
    for name, handler in captures:  # uvicorn's logging config just removed them
        if handler not in logging.getLogger(name).handlers:
            logging.getLogger(name).addHandler(handler)
    server = Server(config)
    server.config.install_signal_handlers = False  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.005)
    running = RunningServer(server, thread, port)
    try:
        yield running
    finally:
        running.stop()
        sock.close()


class LogCapture(logging.Handler):
    """Collects log records from every thread (pytest's caplog only sees its own handlers)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._lock2 = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock2:
            self.records.append(record)

    def text(self) -> str:
        lines = []
        for r in list(self.records):
            lines.append(f"{r.levelname} {r.name}: {r.getMessage()}")
            if r.exc_info:
                lines.append("Traceback (most recent call last): <exc_info>")
        return "\n".join(lines)
