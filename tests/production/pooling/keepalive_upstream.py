"""A fake OpenAI-compatible upstream that keeps connections alive, and counts them.

``tests.support.upstream.FakeUpstream`` answers one request per connection (``Connection:
close``), by design: its fault scripts need a request to own its socket. Connection pooling is
the opposite question, whether the next request *reuses* a socket, so it needs an upstream that
serves request after request on one connection, as real ones do. This one does just that: an
``asyncio`` server on ``127.0.0.1:0`` in its own thread, answering every request with the same
well-formed chunked stream, and recording how many connections it accepted, how many are open
now and the most that were open at once.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson

from tests.support.upstream import Chunks


def _chunked(chunks: list[dict[str, Any]], *, last: bool) -> bytes:
    events = [b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in chunks]
    if last:
        events.append(b"data: [DONE]\n\n")
    body = b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events)
    return body + b"0\r\n\r\n" if last else body


HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
    b"transfer-encoding: chunked\r\nconnection: keep-alive\r\n\r\n"
)


class KeepAliveUpstream:
    """Serves every request with a stream of ``words``: the first one at once, the rest
    ``delay`` seconds later (so a stream holds its connection that long after its first
    token)."""

    def __init__(self, words: tuple[str, ...] = ("Hel", "lo"), delay: float = 0.0) -> None:
        c = Chunks()
        self.first = _chunked([c.role(), c.content(words[0])], last=False)
        self.rest = _chunked([*(c.content(w) for w in words[1:]), c.finish()], last=True)
        self.delay = delay
        self.port = 0
        self.accepted = 0
        self.open = 0
        self.most_open = 0
        self.requests = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="keepalive-upstream", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def provider(self, **options: Any) -> dict[str, Any]:
        return {
            "kind": "openai-compatible",
            "base_url": f"{self.url}/v1",
            "max_retries": 0,
            "models": ["m"],
            **options,
        }

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()
            server.close()
            for task in asyncio.all_tasks() - {asyncio.current_task()}:
                task.cancel()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._lock:
            self.accepted += 1
            self.open += 1
            self.most_open = max(self.most_open, self.open)
        try:
            while await self._answer(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            with self._lock:
                self.open -= 1
            writer.transport.abort()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """One request and its response; False when the client closed the connection."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await reader.readexactly(length)
        with self._lock:
            self.requests += 1
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            writer.write(HEAD + self.first)
            await writer.drain()
            await asyncio.sleep(self.delay)
            writer.write(self.rest)
            await writer.drain()
        finally:
            with self._lock:
                self.in_flight -= 1
        return True

    def wait_closed(self, timeout: float = 5.0) -> bool:
        """True once no connection is open (the client closed them all)."""
        done = threading.Event()
        for _ in range(int(timeout / 0.01)):
            with self._lock:
                if self.open == 0:
                    return True
            done.wait(0.01)
        return False

    def __enter__(self) -> KeepAliveUpstream:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("keep-alive upstream did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


@contextmanager
def keepalive_upstream(**kwargs: Any) -> Iterator[KeepAliveUpstream]:
    with KeepAliveUpstream(**kwargs) as upstream:
        yield upstream
