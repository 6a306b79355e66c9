"""``StreamWriter``: the one owner of everything a stream writes to its client.

Whatever produces the frames (the engine pumping a provider, or any other source of frames)
hands bytes to a writer, and only the writer calls ``send``. So the writer alone:

* sends the response start, body chunks and the last chunk;
* stamps when a write began (``sending_since``, 0 when none is in flight) and when the last one
  ended (``last_write``), the two times a send timeout and a heartbeat are judged by;
* writes a heartbeat comment when asked, never two writes at once: a data write waits for a
  heartbeat in flight, and no heartbeat starts while a data write is in flight;
* never writes after the last chunk.

The watchdog (``watchdog.py``) reads those times and asks for heartbeats; it never writes.
The writer holds ``send`` and nothing of the stream that owns it: the watchdog's set holds the
writer, and a writer holding the engine's run back would make every stream a reference cycle
(run, writer, the server's request cycle, its transport and task) that only the garbage
collector frees, which ``serve`` runs rarely (``server/runner.py``, ``tune_gc``; what such a
cycle costs: docs/performance.md, "No reference cycle per stream").
"""

from __future__ import annotations

import asyncio

from starlette.types import Send

from ..dialects.base import Headers


class StreamWriter:
    """Writes one HTTP response: its start, its body chunks, heartbeats, its last chunk."""

    __slots__ = (
        "_beat",
        "_loop",
        "_send",
        "broken",
        "closed",
        "heartbeat_frame",
        "last_write",
        "sending_since",
        "started",
        "status",
        "writable",
        "writes",
    )

    def __init__(self, send: Send, heartbeat_frame: bytes) -> None:
        self._send = send
        self._loop = asyncio.get_running_loop()
        self.heartbeat_frame = heartbeat_frame
        self.started = False
        """The response start was sent (a status can no longer be chosen)."""
        self.status = 0
        """The status the response started with (0 before it started)."""
        self.writable = False
        """Started, streaming (not a buffered JSON body) and not closed: heartbeats may go."""
        self.closed = False
        """The last chunk was sent or is being sent: nothing else may be written."""
        self.broken = False
        """A heartbeat write failed: the client is unreachable."""
        self.last_write = self._loop.time()
        self.sending_since = 0.0
        self.writes = 0
        """Body writes other than heartbeats (each carries one batch: one or more frames)."""
        self._beat: asyncio.Task[None] | None = None

    @property
    def send(self) -> Send:
        """The connection's ASGI ``send`` (to reset the connection of a frozen client)."""
        return self._send

    async def start(self, status: int, headers: Headers, *, streaming: bool = True) -> None:
        self.started = True
        self.status = status
        await self._send({"type": "http.response.start", "status": status, "headers": headers})
        self.writable = streaming and not self.closed

    async def write(self, body: bytes) -> None:
        """One body chunk; returns when the server took it (a slow client blocks here)."""
        if self._beat is not None:
            await self._beat
        time = self._loop.time
        self.sending_since = time()
        await self._send({"type": "http.response.body", "body": body, "more_body": True})
        self.last_write = time()
        self.sending_since = 0.0
        self.writes += 1

    async def close(self, body: bytes) -> None:
        """The last chunk: the response is complete after it."""
        self.closed = True
        self.writable = False
        if self._beat is not None:
            await self._beat
        self.sending_since = self._loop.time()
        await self._send({"type": "http.response.body", "body": body, "more_body": False})
        self.last_write = self._loop.time()
        self.sending_since = 0.0
        self.writes += 1

    def heartbeat(self) -> None:
        """Start a heartbeat write unless something is being written or nothing may be."""
        if self.writable and self._beat is None and not self.sending_since:
            self._beat = self._loop.create_task(self._heartbeat())

    def abandon(self) -> None:
        """Stop a heartbeat in flight (the stream is over, or its client is frozen)."""
        self.writable = False
        if self._beat is not None:
            self._beat.cancel()

    async def _heartbeat(self) -> None:
        self.sending_since = self._loop.time()
        try:
            await self._send(
                {"type": "http.response.body", "body": self.heartbeat_frame, "more_body": True}
            )
            self.last_write = self._loop.time()
        except asyncio.CancelledError:
            pass
        except Exception:  # any failure to write means the client is unreachable
            self.broken = True
        finally:
            self.sending_since = 0.0
            self._beat = None


__all__ = ["StreamWriter"]
