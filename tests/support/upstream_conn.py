"""Per-connection byte-level I/O for the fake upstream, and what it records per request.

``Conn`` is the one accepted connection a ``Script`` runs against: it writes bytes (optionally
sliced into tiny TCP writes), frames HTTP chunks, half-closes or resets, and reads the client
socket concurrently so the moment the server under test closes is dated in ``RecordedRequest``.
Split out of ``tests.support.upstream`` so the socket mechanics live apart from the script DSL
and the server loop; tests import these names from ``tests.support.upstream``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
import time
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

WAIT_MAX = 30.0
"""Upper bound in seconds for any single wait inside the fake (stall, sleep, reading)."""
LINGER_RST = struct.pack("ii", 1, 0)
"""``SO_LINGER`` on with a zero timeout: ``close()`` then sends RST instead of FIN."""


@dataclass
class RecordedRequest:
    """One request as the fake saw it, and what happened to its connection."""

    attempt: int
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float
    writes: list[tuple[float, int]] = field(default_factory=list)
    marks: dict[str, float] = field(default_factory=dict)
    peer_closed_at: float | None = None
    peer_reset: bool = False
    closed_by_us_at: float | None = None
    closed_how: str = ""
    """How the fake ended it: ``fin`` (half-close), ``rst``, or ``close`` (peer too slow)."""
    finished: threading.Event = field(default_factory=threading.Event)
    peer_closed: threading.Event = field(default_factory=threading.Event)

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def bytes_written(self) -> int:
        return sum(n for _, n in self.writes)

    def writes_after(self, t: float) -> int:
        """How many writes the fake made after ``t`` (tokens wasted after a client left)."""
        return sum(1 for at, _ in self.writes if at > t)

    def wait_peer_closed(self, timeout: float = 2.0) -> float | None:
        """``peer_closed_at`` once the server under test has closed (None if it did not)."""
        self.peer_closed.wait(timeout)
        return self.peer_closed_at

    def wait_finished(self, timeout: float = 5.0) -> bool:
        """True once the connection is closed at both ends (or reset) and the handler ended."""
        return self.finished.wait(timeout)


class _PeerGone(Exception):
    """The server under test closed the connection: the script stops here."""


class Conn:
    """One accepted connection while its script runs (used by actions, not by tests)."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, rec: RecordedRequest
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.rec = rec
        self.chunked = False
        self.slice_size = 0
        self.slice_delay = 0.0
        self.write_closed = False
        self.closed = False
        self.peer_gone = asyncio.Event()
        self._watcher = asyncio.get_running_loop().create_task(self._watch_peer())

    async def _watch_peer(self) -> None:
        """Read the client socket until it closes: this is what dates ``peer_closed_at``."""
        reset = False
        try:
            while await self.reader.read(65536):
                pass
        except (ConnectionResetError, BrokenPipeError):
            reset = True
        if not self.closed:  # our own abort also ends the read; that is not the peer
            self.rec.peer_closed_at = time.monotonic()
            self.rec.peer_reset = reset
            self.rec.peer_closed.set()
        self.peer_gone.set()

    async def wire(self, data: bytes) -> None:
        """Write bytes to the socket as they are (sliced into tiny writes if asked)."""
        if not data:
            return
        if self.peer_gone.is_set() or self.write_closed:
            raise _PeerGone
        step = self.slice_size or len(data)
        for i in range(0, len(data), step):
            piece = data[i : i + step]
            try:
                self.writer.write(piece)
                await asyncio.wait_for(self.writer.drain(), WAIT_MAX)
            except (ConnectionError, RuntimeError):
                raise _PeerGone from None
            self.rec.writes.append((time.monotonic(), len(piece)))
            if self.slice_delay and i + step < len(data):
                await self.pause(self.slice_delay)

    async def body(self, data: bytes) -> None:
        """Body bytes: framed as one HTTP chunk when the response is chunked."""
        if data and self.chunked:
            data = b"%x\r\n%s\r\n" % (len(data), data)
        await self.wire(data)

    async def pause(self, seconds: float) -> None:
        """Sleep, but stop the script at once if the peer leaves meanwhile."""
        try:
            await asyncio.wait_for(self.peer_gone.wait(), min(seconds, WAIT_MAX))
        except TimeoutError:
            return
        raise _PeerGone

    async def half_close(self) -> None:
        """FIN: no more bytes from us; keep reading so the peer's close is still dated."""
        if self.write_closed or self.peer_gone.is_set():
            return
        self.write_closed = True
        self.rec.closed_by_us_at = time.monotonic()
        self.rec.closed_how = "fin"
        with suppress(OSError, RuntimeError):
            self.writer.write_eof()

    def reset(self) -> None:
        """RST: ``SO_LINGER (1, 0)`` then close."""
        if self.closed:
            return
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RST)
        self.closed = True
        self.rec.closed_by_us_at = time.monotonic()
        self.rec.closed_how = "rst"
        self.writer.transport.abort()

    async def close(self, linger: float) -> None:
        """End of the handler: wait (bounded) for the peer to close, then close our end.

        When the fake itself is stopping (the handler task is being cancelled) it does not wait;
        a stop that cancels the wait half-way still closes (``finally``): a socket left open
        here outlives the fake's event loop, and its ``ResourceWarning`` fires at some later
        garbage collection, inside whatever test runs then.
        """
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            linger = 0.0
        try:
            if not self.closed and linger > 0:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self.peer_gone.wait(), linger)
        finally:
            if not self.closed:
                self.closed = True
                if not self.peer_gone.is_set() and self.rec.closed_by_us_at is None:
                    self.rec.closed_by_us_at = time.monotonic()
                    self.rec.closed_how = "close"
                self.writer.transport.abort()
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
