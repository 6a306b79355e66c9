"""``aichatflow serve --server granian``: the same app on granian's Rust HTTP server.

Why offer it: granian's HTTP/1.1 framing and socket writes run in Rust, so writing one event
per ``send`` it delivers more events/s than uvicorn at less CPU per event (docs/performance.md,
``fast``). uvicorn stays the default: it is pure Python to debug, it holds less memory per idle
stream, and it is what the rest of the suite runs on.

What differs, and how it is closed here:

* Granian manages its own worker processes (``workers``), forked from this process; each worker
  builds its own app from the :class:`Settings` this process resolved (config file, environment
  and flags), kept in a module global that the fork carries over (no secrets in the environment).
* On SIGTERM granian stops accepting and then waits for open requests to end, so an endless
  stream would hold the shutdown forever, and the clients would see a cut instead of a
  ``server_shutting_down`` frame. The parent therefore first sends :data:`DRAIN_SIGNAL` to its
  workers; each worker's app drains its streams exactly as ``runner.Server`` does on uvicorn.
* Granian caps a worker at 1,024 concurrent requests by default (its ``backpressure``): far too
  few for held streams, so it is raised to :data:`MAX_CONCURRENT`.

Connection limits (``HttpSettings``; on uvicorn ``server/guarded_protocol.py``): granian's HTTP/1
layer (hyper) bounds the request head itself, so ``max_header_bytes`` becomes its buffer size
(a longer head: 431) and ``header_timeout`` its header read timeout (a head not complete in time:
the connection is closed, without a 408; a connection that sends nothing at all is not timed
out); hyper refuses more than 100 headers (431) whatever ``max_headers`` says.
``body_timeout`` is the chat endpoints' own, so it holds here too. There is no equivalent of
``max_connections``: granian accepts until the process runs out of file descriptors, and then
logs every failed accept, so raise ``ulimit -n`` well above the streams you expect (``serve``
raises the soft limit to the hard one).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette

from ..config import Settings
from ..stream.watchdog import Watchdog
from .app import create_app
from .runner import SHUTDOWN_GRACE, tune_gc

DRAIN_SIGNAL = signal.SIGUSR1
MAX_CONCURRENT = 65_536
BACKLOG = 4096
KILL_MARGIN = 2
"""Seconds past the drain's grace before granian kills a worker that has not stopped. What can
hold a worker that long is a client that stopped reading: its goodbye frame cannot be written
and granian waits to flush it. Unlike uvicorn (``resets.py``) the app cannot reach granian's
sockets to reset them; killing the worker resets them all, so the margin is short
(docs/performance.md, "A frozen client is reset, not closed")."""
_settings: Settings | None = None
"""The parent's resolved settings, inherited by the forked workers."""


def worker_app() -> Starlette:
    """Granian's app factory, called in each worker: the app, draining on DRAIN_SIGNAL."""
    app = create_app(_settings)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[Any]:
        loop = asyncio.get_running_loop()
        draining: list[asyncio.Task[int]] = []  # keeps the task referenced until it ends

        def drain() -> None:
            draining.append(loop.create_task(Watchdog.current().drain(grace=SHUTDOWN_GRACE)))

        loop.add_signal_handler(DRAIN_SIGNAL, drain)
        async with inner(app) as state:
            yield state

    app.router.lifespan_context = lifespan
    tune_gc()
    return app


def run(settings: Settings) -> None:
    """Serve ``settings`` on granian until SIGTERM/SIGINT (blocking)."""
    from granian import Granian
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    global _settings
    _settings = settings
    multiprocessing.set_start_method("fork", force=True)  # see the module docstring

    class _DrainingGranian(Granian):  # type: ignore[misc,valid-type]
        def _stop_workers(self) -> None:
            for worker in self.wrks:
                pid = worker._id()  # the worker process's pid
                if pid:
                    # A worker that died (killed, crashed) is not there to drain; granian
                    # itself stops the others and exits.
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, DRAIN_SIGNAL)
            super()._stop_workers()

    _DrainingGranian(
        f"{__name__}:worker_app",
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=settings.workers,
        factory=True,
        websockets=False,
        backlog=BACKLOG,
        backpressure=MAX_CONCURRENT,
        http1_settings=HTTP1Settings(
            header_read_timeout=max(1, round(settings.http.header_timeout * 1000)),
            max_buffer_size=settings.http.max_header_bytes,
        ),
        log_level=LogLevels(settings.log_level.lower()),
        workers_kill_timeout=int(SHUTDOWN_GRACE) + KILL_MARGIN,
    ).serve()


__all__ = ["DRAIN_SIGNAL", "run", "worker_app"]
