"""Running the app on uvicorn, with a shutdown that tells live streams goodbye.

Uvicorn's graceful shutdown waits for open connections, and an endless stream never closes by
itself. ``Server.shutdown`` here first ends every live stream with a terminal
``server_shutting_down`` error frame (retryable: the client can reconnect to another instance),
then lets uvicorn close connections as usual.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

from ..stream.watchdog import Watchdog

SHUTDOWN_GRACE = 5.0


class Server(uvicorn.Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await Watchdog.current().drain("server_shutting_down", grace=SHUTDOWN_GRACE)
        await super().shutdown(sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """A SIGTERM/SIGINT that ended in a graceful shutdown is a clean exit (status 0).

        Uvicorn re-raises the captured signal after shutting down, so the process would die by
        it; process managers then report a crash for what was an orderly stop.
        """
        with super().capture_signals():
            yield
            self._captured_signals.clear()


def server_config(app: ASGIApp, *, host: str, port: int, log_level: str = "info") -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        timeout_graceful_shutdown=int(SHUTDOWN_GRACE) + 5,
        # The access log line contains the query string; streams log their own outcome instead.
        access_log=False,
    )


def run(app: ASGIApp, *, host: str, port: int, log_level: str = "info") -> None:
    Server(server_config(app, host=host, port=port, log_level=log_level)).run()


__all__ = ["Server", "run", "server_config"]
