"""Running the app on uvicorn, with a shutdown that tells live streams goodbye.

Uvicorn's graceful shutdown waits for open connections, and an endless stream never closes by
itself. ``Server.shutdown`` here first ends every live stream with a terminal
``server_shutting_down`` error frame (retryable: the client can reconnect to another instance),
then lets uvicorn close connections as usual. Meanwhile a client that stopped reading, which
can take neither the frame nor a graceful close, is reset once nothing has left its buffer for
:data:`STALLED_WRITE` seconds (``resets.py``), instead of holding the shutdown for uvicorn's
whole graceful timeout.

Connections are served by ``guarded_protocol.py`` (uvicorn's httptools protocol with bounds on
request heads, their time, and the number of connections: ``HttpSettings``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

from ..config import HttpSettings
from ..stream.watchdog import Watchdog
from .guarded_protocol import protocol_class
from .resets import reset_stalled_connections

SHUTDOWN_GRACE = 5.0
"""Seconds live streams get to take their ``server_shutting_down`` frame."""
STALLED_WRITE = 1.0
"""At shutdown, a connection whose unsent output has not shrunk for this long is reset."""
GC_THRESHOLDS = (50_000, 50, 100)


def tune_gc() -> None:
    """Fewer garbage collections in a server process (``serve`` only: never in a host app).

    Every streamed event allocates a few short-lived containers (a batch list, the ASGI message
    dict, a timer future). With CPython's default thresholds (700, 10, 10) that is a young
    collection every few hundred events and, regularly, one of everything the process holds:
    under thousands of paced streams those pauses are what sets the p99 lateness
    (docs/performance.md, "The collector tuning of serve"). ``gc.freeze()`` keeps everything
    start-up created (modules, the app) out of every later collection.

    The price: a collection of everything almost never runs, so whatever is left in a reference
    cycle stays. What a stream allocates must be freed by reference counting alone, or the
    process grows with every stream (docs/performance.md, "No reference cycle per stream").
    ``tests/server/test_churn_memory.py`` runs this command and holds its memory flat.
    """
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class Server(uvicorn.Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        connections = self.server_state.connections
        watcher = asyncio.get_running_loop().create_task(
            reset_stalled_connections(connections, STALLED_WRITE)
        )
        try:
            await Watchdog.current().drain("server_shutting_down", grace=SHUTDOWN_GRACE)
            await super().shutdown(sockets)
        finally:
            watcher.cancel()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """A SIGTERM/SIGINT that ended in a graceful shutdown is a clean exit (status 0).

        Uvicorn re-raises the captured signal after shutting down, so the process would die by
        it; process managers then report a crash for what was an orderly stop.
        """
        with super().capture_signals():
            yield
            self._captured_signals.clear()


def server_config(
    app: ASGIApp,
    *,
    host: str,
    port: int,
    log_level: str = "info",
    http: HttpSettings | None = None,
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol_class(http or HttpSettings()),
        log_level=log_level,
        lifespan="on",
        timeout_graceful_shutdown=int(SHUTDOWN_GRACE) + 5,
        # The access log line contains the query string; streams log their own outcome instead.
        access_log=False,
    )


def run(
    app: ASGIApp,
    *,
    host: str,
    port: int,
    log_level: str = "info",
    http: HttpSettings | None = None,
) -> None:
    tune_gc()
    Server(server_config(app, host=host, port=port, log_level=log_level, http=http)).run()


__all__ = ["Server", "run", "server_config", "tune_gc"]
