"""A fake OpenAI-compatible upstream that speaks HTTP/1.1 by hand, so it can misbehave per byte.

Why not a real framework: the faults under test (a FIN in the middle of a chunked body, an RST,
headers that never come, every byte in its own TCP write) live below what any HTTP server
library lets you script. So this is ``asyncio.start_server`` on ``127.0.0.1:0`` in its own
thread and event loop (the server under test runs in another thread), answering each request
with a ``Script`` of actions::

    c = Chunks()
    fake.queue(Script([respond(503, {"error": {...}}, retry_after="0.3")]))
    fake.queue(Script([headers(200), event(c.role()), event(c.content("Hi")),
                       event(c.finish()), done(), end_chunked()]))

What it records per request (``RecordedRequest``): attempt number, request headers and JSON
body, every write (time, size), ``peer_closed_at`` (``time.monotonic()`` when reading the client
socket returned ``b""`` or raised ``ConnectionResetError``) and ``closed_by_us_at``. The client
socket is read concurrently with the script, so a close by the server under test is seen at
once even while the script sleeps or stalls; a script stops as soon as its peer has gone, like a
real server whose generation is aborted on disconnect.

One request per connection (every response says ``Connection: close``), so ``peer_closed_at``
belongs to exactly one attempt. Every wait is bounded by ``WAIT_MAX`` and ``stop()`` cancels
whatever is still running, so a broken server under test cannot hang the test session.

Layout, one concept per file: ``upstream_conn`` (``Conn``, ``RecordedRequest``: per-connection
bytes and recording), ``upstream_script`` (the action DSL and ``Script``), ``openai_chunks``
(``chat.completion.chunk`` builders) and this module (``FakeUpstream``, the server). Every
public name is re-exported here, so tests import from ``tests.support.upstream`` only.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.support.openai_chunks import Chunks, openai_stream, tool_call, usage_dict
from tests.support.upstream_conn import WAIT_MAX, Conn, RecordedRequest
from tests.support.upstream_script import (
    Action,
    Script,
    comment,
    data,
    done,
    end_chunked,
    event,
    fin,
    headers,
    mark,
    raw,
    repeat,
    respond,
    rst,
    sleep,
    stall,
    wire,
)


class FakeUpstream:
    """The fake upstream server. Use as a context manager, or ``start()``/``stop()``.

    Scripts queued with ``queue()`` answer successive requests in order (retry tests); once
    the queue is empty, ``default`` answers (a 500 if there is none).
    """

    def __init__(self, default: Script | None = None) -> None:
        self.default = default
        self.port = 0
        self._queue: deque[Script] = deque()
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.connections = 0
        self.errors: list[str] = []
        """Failures inside the fake itself; a test should end with none."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def openai_provider(self, *models: str) -> dict[str, Any]:
        """A provider table for this fake as an OpenAI-compatible upstream: no retries, and
        ``models`` given so that listing models never spends a queued script."""
        return {
            "kind": "openai-compatible",
            "base_url": f"{self.url}/v1",
            "max_retries": 0,
            "models": list(models or ("m",)),
        }

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def attempts(self) -> int:
        with self._lock:
            return len(self._requests)

    def queue(self, *scripts: Script) -> None:
        with self._lock:
            self._queue.extend(scripts)

    def wait_requests(self, n: int, timeout: float = 5.0) -> list[RecordedRequest]:
        deadline = time.monotonic() + timeout
        while self.attempts < n and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.requests

    def wait_all_finished(self, timeout: float = 5.0) -> bool:
        """True when every connection the fake accepted has ended (nothing left running)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                idle = not self._tasks
            if idle:
                return True
            time.sleep(0.005)
        return False

    def start(self) -> FakeUpstream:
        self._thread = threading.Thread(target=self._run, name="fake-upstream", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake upstream did not start")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise RuntimeError("fake upstream thread did not stop")

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            server.close()
            await self._end_connections()
            await server.wait_closed()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Start the connection's handler, registered at once so that ``stop()`` cancels it
        even if it has not started; when it ends, however it ends, its socket is closed."""
        task = asyncio.get_running_loop().create_task(self._handle(reader, writer))
        with self._lock:
            self._tasks.add(task)
            self.connections += 1
        task.add_done_callback(functools.partial(self._handler_done, writer))

    def _handler_done(self, writer: asyncio.StreamWriter, task: asyncio.Task[None]) -> None:
        writer.transport.abort()  # a no-op if the handler closed it; not if it never ran
        with self._lock:
            self._tasks.discard(task)

    async def _end_connections(self) -> None:
        """Cancel every handler and wait until each has closed its socket, connections still
        being accepted included, before the loop closes.

        A socket that outlives the fake's event loop is closed only by the garbage collector,
        whose ``ResourceWarning`` then fires inside whatever test runs at that moment.
        """
        current = asyncio.current_task()
        while others := asyncio.all_tasks() - {current}:
            with self._lock:
                handlers = self._tasks & others
            for task in handlers:  # only those: a cancelled accept would leak its socket
                task.cancel()
            done, _ = await asyncio.wait(others, timeout=WAIT_MAX)
            if not done:
                break
        await asyncio.sleep(0)  # an aborted transport closes its socket one iteration later

    def _next_script(self) -> Script:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if self.default is not None:
            return self.default
        return Script([respond(500, {"error": {"message": "fake: no script queued"}})])

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn: Conn | None = None
        try:
            head = await asyncio.wait_for(_read_request(reader), WAIT_MAX)
            if head is None:
                return
            with self._lock:
                rec = RecordedRequest(len(self._requests) + 1, *head, time.monotonic())
                self._requests.append(rec)
            conn = Conn(reader, writer, rec)
            script = self._next_script()
            try:
                await script.run(conn)
            finally:
                await conn.close(script.linger)
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            pass  # a client that left before finishing its request: nothing to record
        except Exception as exc:  # a bug in the fake or a script: the test must see it
            self.errors.append(repr(exc))
        finally:
            if conn is None:
                writer.transport.abort()
            else:
                conn.rec.finished.set()


async def _read_request(
    reader: asyncio.StreamReader,
) -> tuple[str, str, dict[str, str], bytes] | None:
    """Request line, lower-cased headers and body (``Content-Length`` or chunked)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    hdrs: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            hdrs[name.strip().lower()] = value.strip()
    if hdrs.get("transfer-encoding", "").lower() == "chunked":
        body = bytearray()
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            body += (await reader.readexactly(size + 2))[:size]
            if size == 0:
                return method, path, hdrs, bytes(body)
    length = int(hdrs.get("content-length", "0"))
    return method, path, hdrs, await reader.readexactly(length)


@contextmanager
def fake_upstream(default: Script | None = None) -> Iterator[FakeUpstream]:
    """``with fake_upstream() as fake:``: started on entry, stopped (and joined) on exit."""
    fake = FakeUpstream(default)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


__all__ = [
    "WAIT_MAX",
    "Action",
    "Chunks",
    "Conn",
    "FakeUpstream",
    "RecordedRequest",
    "Script",
    "comment",
    "data",
    "done",
    "end_chunked",
    "event",
    "fake_upstream",
    "fin",
    "headers",
    "mark",
    "openai_stream",
    "raw",
    "repeat",
    "respond",
    "rst",
    "sleep",
    "stall",
    "tool_call",
    "usage_dict",
    "wire",
]
