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
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
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

        When the fake itself is stopping (the handler task is being cancelled) it does not wait.
        """
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            linger = 0.0
        if not self.closed and linger > 0:
            with suppress(TimeoutError):
                await asyncio.wait_for(self.peer_gone.wait(), linger)
        if not self.closed:
            self.closed = True
            if not self.peer_gone.is_set() and self.rec.closed_by_us_at is None:
                self.rec.closed_by_us_at = time.monotonic()
                self.rec.closed_how = "close"
            self.writer.transport.abort()
        self._watcher.cancel()
        await asyncio.gather(self._watcher, return_exceptions=True)


class Action:
    """One step of a script. Subclasses implement ``run``."""

    async def run(self, conn: Conn) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class _Headers(Action):
    status: int
    fields: tuple[tuple[str, str], ...]
    chunked: bool

    async def run(self, conn: Conn) -> None:
        reason = _REASONS.get(self.status, "Status")
        lines = [f"HTTP/1.1 {self.status} {reason}", *(f"{k}: {v}" for k, v in self.fields)]
        if self.chunked:
            lines.append("transfer-encoding: chunked")
        await conn.wire(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        conn.chunked = self.chunked


@dataclass(frozen=True)
class _Body(Action):
    data: bytes
    framed: bool = True

    async def run(self, conn: Conn) -> None:
        if self.framed:
            await conn.body(self.data)
        else:
            await conn.wire(self.data)


@dataclass(frozen=True)
class _Sleep(Action):
    seconds: float

    async def run(self, conn: Conn) -> None:
        await conn.pause(self.seconds)


@dataclass(frozen=True)
class _Fin(Action):
    async def run(self, conn: Conn) -> None:
        await conn.half_close()


@dataclass(frozen=True)
class _Rst(Action):
    async def run(self, conn: Conn) -> None:
        conn.reset()
        raise _PeerGone


@dataclass(frozen=True)
class _Mark(Action):
    name: str

    async def run(self, conn: Conn) -> None:
        conn.rec.marks[self.name] = time.monotonic()


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}
_REASONS |= {429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


def _header_fields(extra: Mapping[str, str], kw: Mapping[str, str]) -> list[tuple[str, str]]:
    """``retry_after="1"`` → ``("retry-after", "1")``; explicit mappings keep their spelling."""
    return [*extra.items(), *((k.replace("_", "-"), str(v)) for k, v in kw.items())]


def headers(
    status: int = 200,
    *,
    content_type: str = "text/event-stream; charset=utf-8",
    chunked: bool = True,
    extra: Mapping[str, str] | None = None,
    **kw: str,
) -> Action:
    """The status line and headers; later body bytes are chunk-framed if ``chunked``."""
    fields = [("content-type", content_type), ("connection", "close")]
    fields += _header_fields(extra or {}, kw)
    return _Headers(status, tuple(fields), chunked)


def respond(
    status: int, payload: Any, *, extra: Mapping[str, str] | None = None, **kw: str
) -> list[Action]:
    """A whole non-streaming response: status, JSON body with ``Content-Length``, then FIN."""
    body = payload if isinstance(payload, bytes) else _dumps(payload)
    fields = [("content-type", "application/json"), ("connection", "close")]
    fields += [("content-length", str(len(body))), *_header_fields(extra or {}, kw)]
    return [_Headers(status, tuple(fields), chunked=False), _Body(body, framed=False), _Fin()]


def raw(data: bytes) -> Action:
    """Body bytes (one HTTP chunk when chunked)."""
    return _Body(data)


def wire(data: bytes) -> Action:
    """Bytes straight onto the socket, below HTTP framing."""
    return _Body(data, framed=False)


def event(payload: Any, *, eol: bytes = b"\n") -> Action:
    """``data: <compact JSON>`` + blank line, as OpenAI writes it (UTF-8, not ASCII-escaped)."""
    return data(_dumps(payload), eol=eol)


def data(text: str | bytes, *, eol: bytes = b"\n") -> Action:
    value = text.encode() if isinstance(text, str) else text
    return _Body(b"data: " + value + eol + eol)


def comment(text: str = "keep-alive", *, eol: bytes = b"\n") -> Action:
    return _Body(b": " + text.encode() + eol + eol)


def done(*, eol: bytes = b"\n") -> Action:
    return data(b"[DONE]", eol=eol)


def end_chunked() -> Action:
    """The chunked terminator ``0\\r\\n\\r\\n``: the response is complete."""
    return _Body(b"0\r\n\r\n", framed=False)


def sleep(seconds: float) -> Action:
    return _Sleep(seconds)


def stall(limit: float = WAIT_MAX) -> Action:
    """Send nothing more, keep the socket open until the peer leaves (at most ``limit``)."""
    return _Sleep(limit)


def fin() -> Action:
    """Half-close (FIN) now, whatever the HTTP framing says; the peer's close is still dated."""
    return _Fin()


def rst() -> Action:
    return _Rst()


def mark(name: str) -> Action:
    """Record ``time.monotonic()`` under ``name`` in the request's ``marks``."""
    return _Mark(name)


def repeat(times: int, *actions: Action) -> list[Action]:
    return [a for _ in range(times) for a in actions]


def _flatten(items: Iterable[Action | Iterable[Action]]) -> Iterator[Action]:
    for item in items:
        if isinstance(item, Action):
            yield item
        else:
            yield from _flatten(item)


class Script:
    """The actions that answer one request. ``slice_size=1`` puts every byte in its own TCP
    write (toxiproxy's ``slicer``), ``slice_delay`` seconds apart, below HTTP framing."""

    def __init__(
        self,
        actions: Iterable[Action | Iterable[Action]],
        *,
        slice_size: int = 0,
        slice_delay: float = 0.0,
        linger: float = 5.0,
    ) -> None:
        self.actions = list(_flatten(actions))
        self.slice_size = slice_size
        self.slice_delay = slice_delay
        self.linger = linger
        """After the script, how long to wait for the peer to close before closing ourselves."""

    async def run(self, conn: Conn) -> None:
        conn.slice_size, conn.slice_delay = self.slice_size, self.slice_delay
        try:
            for action in self.actions:
                await action.run(conn)
            await conn.half_close()  # a script that ends says so with a FIN
        except _PeerGone:
            pass


def _dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


# --- chat.completion.chunk builders (WIRE.md 3.1 and 3.2) ------------------------------------


@dataclass
class Chunks:
    """Builds ``chat.completion.chunk`` objects with the fields real servers repeat per chunk.

    Defaults are OpenAI's (``usage: null`` on every chunk when usage was requested);
    ``Chunks.deepseek()`` gives DeepSeek's shape (no ``usage`` key, reasoning in
    ``reasoning_content``, usage on the finishing chunk).
    """

    id: str = "chatcmpl-7x"
    model: str = "gpt-4o-mini"
    created: int = 1730000000
    system_fingerprint: str = "fp_1"
    usage_null: bool = True

    @classmethod
    def deepseek(cls) -> Chunks:
        return cls(
            id="f802c271-4a3e-4c7a-9d0e-2b1c8e3f5a6d",
            model="deepseek-reasoner",
            created=1759299469,
            system_fingerprint="fp_ffc7281d48_prod0820_fp8_kvcache",
            usage_null=False,
        )

    def chunk(
        self, delta: dict[str, Any], finish_reason: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        out: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": self.system_fingerprint,
            "choices": [choice],
        }
        if self.usage_null:
            out["usage"] = None
        out.update(extra)
        return out

    def role(self) -> dict[str, Any]:
        if not self.usage_null:  # DeepSeek's first chunk
            return self.chunk({"role": "assistant", "content": None, "reasoning_content": ""})
        return self.chunk({"role": "assistant", "content": "", "refusal": None})

    def content(self, text: str) -> dict[str, Any]:
        if not self.usage_null:
            return self.chunk({"content": text, "reasoning_content": None})
        return self.chunk({"content": text})

    def reasoning(self, text: str) -> dict[str, Any]:
        return self.chunk({"content": None, "reasoning_content": text})

    def tool_calls(self, *calls: dict[str, Any], role: bool = False) -> dict[str, Any]:
        delta: dict[str, Any] = {"role": "assistant", "content": None} if role else {}
        delta["tool_calls"] = list(calls)
        return self.chunk(delta)

    def finish(self, reason: str = "stop", usage: dict[str, Any] | None = None) -> dict[str, Any]:
        if not self.usage_null:
            delta: dict[str, Any] = {"content": "", "reasoning_content": None}
            return self.chunk(delta, reason, **({"usage": usage} if usage else {}))
        return self.chunk({}, reason)

    def usage(self, prompt: int, completion: int, *, reasoning: int = 0) -> dict[str, Any]:
        """OpenAI's extra final chunk: ``choices: []`` and the usage filled in."""
        out = self.chunk({})
        out["choices"] = []
        out["usage"] = usage_dict(prompt, completion, reasoning=reasoning)
        return out


def usage_dict(
    prompt: int, completion: int, *, reasoning: int = 0, cached: int = 0, deepseek: bool = False
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }
    if deepseek:
        out["prompt_cache_hit_tokens"] = cached
        out["prompt_cache_miss_tokens"] = prompt - cached
    return out


def tool_call(
    index: int | None,
    *,
    id: str | None = None,
    name: str | None = None,
    arguments: str | None = None,
) -> dict[str, Any]:
    """A ``tool_calls`` entry: the first fragment carries id/type/name, later ones arguments."""
    call: dict[str, Any] = {} if index is None else {"index": index}
    function: dict[str, Any] = {}
    if id is not None:
        call["id"] = id
        call["type"] = "function"
    if name is not None:
        function["name"] = name
    if arguments is not None:
        function["arguments"] = arguments
    call["function"] = function
    return call


def openai_stream(
    texts: Iterable[str],
    *,
    chunks: Chunks | None = None,
    usage: tuple[int, int] | None = (12, 3),
    eol: bytes = b"\n",
) -> list[Action]:
    """A complete, well-behaved OpenAI stream: headers, role, deltas, finish, usage, [DONE]."""
    c = chunks or Chunks()
    out: list[Action] = [headers(200), event(c.role(), eol=eol)]
    out += [event(c.content(t), eol=eol) for t in texts]
    out.append(event(c.finish(), eol=eol))
    if usage is not None:
        out.append(event(c.usage(*usage), eol=eol))
    out += [done(eol=eol), end_chunked()]
    return out


# --- the server --------------------------------------------------------------------------------


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
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            server.close()
            with self._lock:
                tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await server.wait_closed()

    def _next_script(self) -> Script:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if self.default is not None:
            return self.default
        return Script([respond(500, {"error": {"message": "fake: no script queued"}})])

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        with self._lock:
            self._tasks.add(task)
            self.connections += 1
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
            with self._lock:
                self._tasks.discard(task)


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
