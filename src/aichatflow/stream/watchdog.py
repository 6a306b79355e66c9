"""One loop-level timer for every live stream: heartbeats, deadlines and send timeouts.

A ping task and a watchdog task per stream (sse-starlette's design) cost memory per stream and a
wake-up per stream per period. Here one ``loop.call_later`` callback walks the live streams a few
times a second and, for each one:

* aborts it when a deadline passed (first token, content progress, max duration) or a write to
  the client has been blocked longer than the send timeout (a frozen client);
* starts a heartbeat write when nothing was written for ``heartbeat`` seconds, also before the
  first token; the heartbeat is a short-lived task, so it exists only on idle streams.

Aborting means: record a code on the stream's ``StreamWatch`` and cancel the task that runs the
stream. The engine catches that cancellation, sees the code, and ends the stream properly
(``docs/architecture.md`` draws the race). Nothing here touches an HTTP connection directly.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from .limits import StreamLimits

SendBody = Callable[[bytes], Awaitable[None]]

CLIENT_GONE = "client_gone"
SEND_TIMEOUT = "send_timeout"


class StreamWatch:
    """The little state the watchdog needs about one stream (a few attributes, no task)."""

    __slots__ = (
        "abort_code",
        "awaiting_upstream",
        "finishing",
        "had_content",
        "heartbeat_frame",
        "heartbeat_task",
        "last_progress",
        "last_write",
        "limits",
        "send_body",
        "sending_since",
        "started",
        "task",
        "timed_out",
        "writable",
    )

    def __init__(self, task: asyncio.Task[Any], limits: StreamLimits, now: float) -> None:
        self.task = task
        self.limits = limits
        self.started = now
        self.last_progress = now
        self.last_write = now
        self.sending_since = 0.0
        self.had_content = False
        self.awaiting_upstream = True
        self.writable = False
        self.finishing = False
        self.timed_out = False
        self.abort_code: str | None = None
        self.heartbeat_frame = b""
        self.heartbeat_task: asyncio.Task[None] | None = None
        self.send_body: SendBody | None = None

    def abort(self, code: str) -> None:
        """Ask the stream to end with ``code``; the first reason wins.

        The one exception is a send timeout: a write blocked on a frozen client must be
        interrupted even while the stream is already ending for another reason.
        """
        if code == SEND_TIMEOUT:
            if self.timed_out:
                return
            self.timed_out = True
        elif self.abort_code is not None or self.finishing:
            return  # already ending; the terminal frame is on its way
        self.abort_code = code
        self.task.cancel()
        if self.heartbeat_task is not None:
            self.heartbeat_task.cancel()


class Watchdog:
    """The timer for all streams of one event loop. Get it with ``Watchdog.current()``."""

    _by_loop: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Watchdog]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._streams: set[StreamWatch] = set()
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

    def watch(self, task: asyncio.Task[Any], limits: StreamLimits) -> StreamWatch:
        w = StreamWatch(task, limits, self._loop.time())
        self._streams.add(w)
        if limits.tick < self._interval:
            self._interval = limits.tick
            if self._handle is not None:
                self._handle.cancel()
                self._handle = None
        if self._handle is None:
            self._handle = self._loop.call_later(self._interval, self._tick)
        return w

    def forget(self, w: StreamWatch) -> None:
        self._streams.discard(w)
        if w.heartbeat_task is not None:
            w.heartbeat_task.cancel()
        if not self._streams and self._handle is not None:
            self._handle.cancel()
            self._handle = None
            self._interval = 0.5

    def abort_all(self, code: str) -> int:
        """End every live stream with ``code`` (server shutdown). Returns how many."""
        self.accepting = False
        streams = list(self._streams)
        for w in streams:
            w.abort(code)
        return len(streams)

    async def drain(self, code: str = "server_shutting_down", grace: float = 5.0) -> int:
        """Abort every live stream and wait (up to ``grace``) until they have all ended."""
        count = self.abort_all(code)
        deadline = self._loop.time() + grace
        while self._streams and self._loop.time() < deadline:
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

    def _check(self, w: StreamWatch, now: float) -> None:
        limits = w.limits
        if w.sending_since:
            if now - w.sending_since > limits.send_timeout:
                w.abort(SEND_TIMEOUT)
            return
        if w.finishing:
            return
        if now - w.started > limits.max_duration:
            w.abort("stream_too_long")
        elif w.awaiting_upstream and now - w.last_progress > (
            limits.progress if w.had_content else limits.first_token
        ):
            w.abort("upstream_timeout")
        elif (
            w.writable
            and w.heartbeat_task is None
            and now - w.last_write >= limits.heartbeat
            and w.send_body is not None
        ):
            w.heartbeat_task = self._loop.create_task(self._heartbeat(w, w.send_body))

    async def _heartbeat(self, w: StreamWatch, send_body: SendBody) -> None:
        w.sending_since = self._loop.time()
        try:
            await send_body(w.heartbeat_frame)
            w.last_write = self._loop.time()
        except asyncio.CancelledError:
            pass
        except Exception:  # any failure to write means the client is unreachable
            w.abort(CLIENT_GONE)
        finally:
            w.sending_since = 0.0
            w.heartbeat_task = None


__all__ = ["CLIENT_GONE", "SEND_TIMEOUT", "StreamWatch", "Watchdog"]
