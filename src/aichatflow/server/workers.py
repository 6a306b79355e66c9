"""``aichatflow serve --workers N``: N server processes on one port, one per core.

One Python process streams on one core (docs/benchmarks.md: scale out by processes, one worker
per core). The parent process does not serve: it starts the workers, restarts one that dies, and
on SIGTERM/SIGINT asks them all to stop and waits, so each drains its live streams with the
``server_shutting_down`` frame exactly as a single server does (``runner.Server``).

Why one ``SO_REUSEPORT`` socket per worker rather than one shared listening socket: with a
shared socket every worker races to ``accept``, and the one that is awake (the least busy, or
the one that just accepted a batch) takes most new connections, so a burst of streams lands
on one core. With a socket each, the kernel hashes every new connection to one of them, which
spreads connections evenly whatever the workers are doing. ``SO_REUSEPORT`` would also let
these workers silently join another server already listening on the port, so the parent first
checks that the port is free (:func:`check_port_free`, called by the CLI).

Why ``fork``: the parent forks only from this module's plain blocking loop, before any event
loop or thread exists in it, which is what makes fork safe; a worker then starts in
milliseconds with everything imported, ``Settings`` needs no pickling, and ``python -m
aichatflow`` (whose ``__main__`` has no guard, so ``spawn`` would run the command again in
every child) just works. Each worker builds its own app (``create_app`` in the child), so no
event loop, HTTP client or socket is ever shared between processes. Linux only: ``fork`` and
``SO_REUSEPORT`` balancing are both what Linux offers.

Crash policy: a worker that dies after it started serving is logged and restarted, up to
:data:`RESTARTS` times within :data:`RESTART_WINDOW` seconds; beyond that, or when a worker
dies before it ever served (a bad config, a port it cannot bind: restarting cannot help), the
parent stops the others and exits 1, so a process manager sees the failure. A restarted worker's
live gauges are dropped from ``/metrics`` (``metrics/multiprocess.py``).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from types import FrameType

from ..config import Settings
from ..errors import AIChatFlowError
from .app import create_app
from .metrics.multiprocess import worker_exited
from .runner import SHUTDOWN_GRACE, Server, server_config, tune_gc

log = logging.getLogger("aichatflow.workers")

RESTARTS = 5
RESTART_WINDOW = 60.0
STOP_TIMEOUT = SHUTDOWN_GRACE + 20
"""How long the parent waits for the workers after SIGTERM before killing them: the drain
grace plus uvicorn's own graceful timeout (``server_config``), with margin."""
_POLL = 0.2
"""Seconds between checks of the stop flag; a worker's exit wakes the parent at once."""
_CONTEXT = multiprocessing.get_context("fork")


def _address(host: str, port: int) -> tuple[socket.AddressFamily, tuple[str, int]]:
    family, _, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    return family, (str(address[0]), int(address[1]))


def check_port_free(host: str, port: int) -> None:
    """Raise ``OSError`` when something listens on ``host:port`` already.

    A bind without ``SO_REUSEPORT`` fails on a port any socket listens on, including another
    aichatflow's workers; checked once in the parent, so the error is said once, clearly.
    """
    family, address = _address(host, port)
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no conflict
        probe.bind(address)


def listen_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` that other workers' sockets share (uvicorn listens)."""
    family, address = _address(host, port)
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    return sock


class _WorkerServer(Server):
    """``runner.Server`` that tells the parent when it serves (a later death is a crash)."""

    def __init__(self, settings: Settings, ready: Event) -> None:
        app = create_app(settings)
        config = server_config(
            app,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            http=settings.http,
        )
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._ready.set()
            config = self.config
            log.info("worker %d serving on http://%s:%d/", os.getpid(), config.host, config.port)


def _worker_main(settings: Settings, ready: Event) -> None:
    """The child: its own socket, its own app, the ordinary server; exit 1 if it cannot start."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)  # the parent's handlers came along with fork
    try:
        sock = listen_socket(settings.host, settings.port)
        server = _WorkerServer(settings, ready)
    except (OSError, AIChatFlowError) as exc:
        log.error("worker %d cannot start: %s", os.getpid(), exc)
        sys.exit(1)
    tune_gc()
    server.run(sockets=[sock])


@dataclass
class _Worker:
    process: BaseProcess
    ready: Event

    @property
    def pid(self) -> int:
        return self.process.pid or 0


def _describe(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"killed by {signal.Signals(-exitcode).name}"
    return f"exit status {exitcode}"


class Supervisor:
    """The parent: starts ``settings.workers`` workers, keeps them running, stops them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.workers: list[_Worker] = []
        self._signalled = False
        self._stopping = False
        self._restarts: deque[float] = deque(maxlen=RESTARTS)

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT; the exit status (0 after an orderly stop)."""
        handlers = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            return self._stop(self._supervise())
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._stopping:  # a second signal: like uvicorn's second Ctrl-C, stop without draining
            self._send(signal.SIGINT)
        self._signalled = True

    def _start(self) -> _Worker:
        ready = _CONTEXT.Event()
        process = _CONTEXT.Process(target=_worker_main, args=(self.settings, ready))
        process.start()
        return _Worker(process, ready)

    def _supervise(self) -> int:
        """Start the workers and restart any that dies, until a signal (0) or giving up (1)."""
        self.workers = [self._start() for _ in range(self.settings.workers)]
        log.info("started %d workers: pids %s", len(self.workers), [w.pid for w in self.workers])
        while not self._signalled:
            wait([w.process.sentinel for w in self.workers], timeout=_POLL)
            for i, worker in enumerate(self.workers):
                if self._signalled or worker.process.is_alive():
                    continue
                how = _describe(worker.process.exitcode)
                if not worker.ready.is_set():
                    log.error("worker %d could not start (%s); stopping", worker.pid, how)
                    return 1
                now = time.monotonic()
                if len(self._restarts) == RESTARTS and now - self._restarts[0] < RESTART_WINDOW:
                    log.error(
                        "worker %d died (%s) after %d restarts within %.0f s; stopping",
                        worker.pid,
                        how,
                        RESTARTS,
                        RESTART_WINDOW,
                    )
                    return 1
                self._restarts.append(now)
                worker_exited(worker.pid)
                self.workers[i] = self._start()
                log.warning(
                    "worker %d died (%s); restarted as %d", worker.pid, how, self.workers[i].pid
                )
        return 0

    def _send(self, sig: signal.Signals) -> None:
        for worker in self.workers:
            if worker.process.exitcode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, sig)

    def _stop(self, status: int) -> int:
        """SIGTERM every worker (each drains its streams) and wait; kill what outlives the wait."""
        self._stopping = True
        self.workers = [w for w in self.workers if w.process.exitcode is None]  # dead: logged
        self._send(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for worker in self.workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
        for worker in self.workers:
            if worker.process.exitcode is None:
                log.error(
                    "worker %d still running %.0f s after SIGTERM; killed", worker.pid, STOP_TIMEOUT
                )
                worker.process.kill()
                worker.process.join()
                status = 1
            elif worker.process.exitcode not in (0, -signal.SIGTERM, -signal.SIGINT):
                log.error(
                    "worker %d stopped with %s", worker.pid, _describe(worker.process.exitcode)
                )
                status = 1
        return status


__all__ = ["RESTARTS", "RESTART_WINDOW", "Supervisor", "check_port_free", "listen_socket"]
