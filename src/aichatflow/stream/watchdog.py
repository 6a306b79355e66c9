"""One loop-level timer for every live stream: heartbeats, deadlines and send timeouts.

A ping task and a watchdog task per stream (sse-starlette's design) cost memory per stream and a
wake-up per stream per period. Here one ``loop.call_later`` callback walks the live streams a few
times a second and, for each one:

* aborts it when a deadline passed (first token, content progress, max duration), a write to
  the client has been blocked longer than the send timeout (a frozen client), or a heartbeat
  could not be written (the client is gone);
* asks its writer for a heartbeat when nothing was written for ``heartbeat`` seconds, also
  before the first token (the writer decides whether one may go now).

The watchdog only reads: the writer's times (``writer.py``) and the source's ``Progress``,
each written by its one owner. Aborting means recording the reason on the stream's ``Watched``
entry and cancelling the task that runs the stream; the engine catches that cancellation, reads
the reason, and ends the stream properly (``docs/architecture.md`` draws the race).
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any, ClassVar, Literal

from .limits import StreamLimits
from .writer import StreamWriter

Abort = Literal[
    "client_gone",
    "send_timeout",
    "upstream_timeout",
    "stream_too_long",
    "server_shutting_down",
    "cancelled",
]
"""Why the watchdog (or a caller of ``abort_all``) ended a stream."""

CLIENT_GONE: Abort = "client_gone"
SEND_TIMEOUT: Abort = "send_timeout"


class Progress:
    """What a stream's source did when: written by the code that reads the source only."""

    __slots__ = ("awaiting_upstream", "ending", "had_content", "last_progress", "started")

    def __init__(self, now: float) -> None:
        self.started = now
        self.last_progress = now
        self.had_content = False
        self.awaiting_upstream = True
        """False once the source is done (or for a reader with no upstream to wait for)."""
        self.ending = False
        """The terminal frame is on its way: no other reason may end the stream now."""


class Watched:
    """The watchdog's entry for one stream: what it reads, and the one thing it writes (why)."""

    __slots__ = ("limits", "lingers", "progress", "reason", "task", "timed_out", "writer")

    def __init__(
        self,
        task: asyncio.Task[Any],
        limits: StreamLimits,
        writer: StreamWriter,
        now: float,
        lingers: bool = False,
    ) -> None:
        self.task = task
        self.lingers = lingers
        """At shutdown, this stream may finish within the grace after the others were told to
        go: a journal's producer whose journal other instances read (``journal/run.py``)."""
        self.limits = limits
        self.writer = writer
        self.progress = Progress(now)
        self.reason: Abort | None = None
        self.timed_out = False

    def abort(self, reason: Abort) -> None:
        """Ask the stream to end for ``reason``; the first reason wins.

        The one exception is a send timeout: a write blocked on a frozen client must be
        interrupted even while the stream is already ending for another reason.
        """
        if reason == SEND_TIMEOUT:
            if self.timed_out:
                return
            self.timed_out = True
        elif self.reason is not None or self.progress.ending:
            return  # already ending; the terminal frame is on its way
        self.reason = reason
        self.task.cancel()


class Watchdog:
    """The timer for all streams of one event loop. Get it with ``Watchdog.current()``."""

    _by_loop: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Watchdog]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._streams: set[Watched] = set()
        self._handle: asyncio.TimerHandle | None = None
        self._interval = 0.5
        self.accepting = True

    @classmethod
    def current(cls) -> Watchdog:
        loop = asyncio.get_running_loop()
        dog = cls._by_loop.get(loop)
        if dog is None:
            dog = cls._by_loop[loop] = cls(loop)
        return dog

    def __len__(self) -> int:
        return len(self._streams)

    def watch(
        self,
        task: asyncio.Task[Any],
        limits: StreamLimits,
        writer: StreamWriter,
        *,
        lingers: bool = False,
    ) -> Watched:
        w = Watched(task, limits, writer, self._loop.time(), lingers)
        self._streams.add(w)
        if limits.tick < self._interval:
            self._interval = limits.tick
            if self._handle is not None:
                self._handle.cancel()
                self._handle = None
        if self._handle is None:
            self._handle = self._loop.call_later(self._interval, self._tick)
        return w

    def forget(self, w: Watched) -> None:
        self._streams.discard(w)
        if not self._streams and self._handle is not None:
            self._handle.cancel()
            self._handle = None
            self._interval = 0.5

    def abort_task(self, task: asyncio.Task[Any], reason: Abort) -> bool:
        """End the stream run by ``task`` for ``reason`` (a Stop); False when none is live.
        A walk over the live streams: Stop is rare, and no index is kept per stream for it."""
        for w in self._streams:
            if w.task is task:
                w.abort(reason)
                return True
        return False

    def abort_all(self, reason: Abort, *, lingering: bool = True) -> int:
        """End every live stream for ``reason`` (server shutdown), the lingering ones too
        unless ``lingering`` is False. Returns how many."""
        self.accepting = False
        streams = [w for w in self._streams if lingering or not w.lingers]
        for w in streams:
            w.abort(reason)
        return len(streams)

    async def drain(self, reason: Abort = "server_shutting_down", grace: float = 5.0) -> int:
        """End every live stream and wait (up to ``grace``) until they have all ended.

        Streams that linger (the producers of a journal other instances read) keep writing
        their answers for most of the grace, so that a reader resuming on another instance
        still gets the whole answer, and are ended only when the grace is nearly over; every
        other stream is told at once (a reader's client reconnects elsewhere)."""
        loop = self._loop
        start = loop.time()
        count = self.abort_all(reason, lingering=False)
        producers_until = start + grace * 0.8
        while any(w.lingers for w in self._streams) and loop.time() < producers_until:
            await asyncio.sleep(0.02)
        for w in [w for w in self._streams if w.lingers]:
            w.abort(reason)
            count += 1
        deadline = start + grace
        while self._streams and loop.time() < deadline:
            await asyncio.sleep(0.02)
        return count

    def _tick(self) -> None:
        now = self._loop.time()
        for w in list(self._streams):
            self._check(w, now)
        if self._streams:
            self._handle = self._loop.call_later(self._interval, self._tick)
        else:
            self._handle = None

    def _check(self, w: Watched, now: float) -> None:
        limits, writer, progress = w.limits, w.writer, w.progress
        if writer.sending_since:
            if now - writer.sending_since > limits.send_timeout:
                w.abort(SEND_TIMEOUT)
            return
        if progress.ending:
            return
        if writer.broken:
            w.abort(CLIENT_GONE)
        elif now - progress.started > limits.max_duration:
            w.abort("stream_too_long")
        elif progress.awaiting_upstream and now - progress.last_progress > (
            limits.progress if progress.had_content else limits.first_token
        ):
            w.abort("upstream_timeout")
        elif now - writer.last_write >= limits.heartbeat:
            writer.heartbeat()


__all__ = ["CLIENT_GONE", "SEND_TIMEOUT", "Abort", "Progress", "Watchdog", "Watched"]
