"""Clients for the upstream-fault tests, and the "clean end" check every fault must pass.

Two clients, because the faults differ: ``chat()`` is an ``httpx.AsyncClient`` stream (what a
real caller uses; closing it early is a FIN), ``raw_chat()`` is a raw socket with h11 parsing
(the only way to send an RST or to leave before the response headers at a precise instant).
Both parse frames with aichatflow's own ``SSEDecoder`` and time-stamp every frame with
``time.monotonic()``, the clock the fake upstream uses too (it is system-wide, so times from
the test thread, the server thread and the fake's thread compare directly).
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import h11
import httpx

from aichatflow.sse import SSEDecoder
from tests.support.server import LogCapture
from tests.support.upstream import FakeUpstream

NATIVE = "/api/chat"
OPENAI = "/v1/chat/completions"
MESSAGES = [{"role": "user", "content": "Say hello"}]

AT_ONCE = 2.0
"""Seconds within which something that must happen "at once" has to happen in these tests: the
response ending after its terminal frame, the server closing the upstream connection when a
stream ends, an answer that must not wait. Every failure these bounds catch waits for something
of 5 s or more (a script's ``stall``, a 10 s timer, a client's 15 s timeout), and a busy 2-core
machine stays far below it (it takes milliseconds on a quiet one)."""
TIMER_SLACK = 1.5
"""How late past its setting a server timer may fire in these tests. The wrong timer firing (the
10 s read timeout instead of a 1 s one) or none (a stall running out) is later by far."""


@dataclass
class Frame:
    event: str
    data: str
    at: float

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class Result:
    """One response as the client saw it. Accessors understand both dialects."""

    path: str
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    frames: list[Frame] = field(default_factory=list)
    raw: bytes = b""
    sent_at: float = 0.0
    ended_at: float | None = None
    """When the response body ended (None if the client left first)."""
    closed_at: float | None = None
    """When the client closed the connection early (None if it read to the end)."""

    @property
    def native(self) -> bool:
        return self.path == NATIVE

    def body_json(self) -> Any:
        return json.loads(self.raw)

    def named(self, name: str) -> list[Frame]:
        return [f for f in self.frames if f.event == name]

    def _is_terminal(self, f: Frame) -> bool:
        if self.native:
            return f.event in ("done", "error")
        return f.data == "[DONE]" or f.data.startswith('{"error"')

    @property
    def terminals(self) -> list[Frame]:
        return [f for f in self.frames if self._is_terminal(f)]

    @property
    def error(self) -> dict[str, Any] | None:
        """The terminal error payload: native ``{code, message, retryable, request_id}``, or
        OpenAI's ``{message, type, code, param}``."""
        for f in self.terminals:
            if f.data != "[DONE]" and (not self.native or f.event == "error"):
                body = f.json()
                return body["error"] if not self.native else body
        return None

    @property
    def error_code(self) -> str | None:
        err = self.error
        return None if err is None else str(err["code"])

    def deltas(self) -> list[dict[str, Any]]:
        """OpenAI dialect: the ``delta`` of every chunk, in order."""
        out = []
        for f in self.frames:
            if f.data != "[DONE]" and not self._is_terminal(f):
                for choice in f.json().get("choices", []):
                    out.append(choice["delta"])
        return out

    def content_frames(self) -> list[Frame]:
        if self.native:
            return [f for f in self.frames if f.event in ("text", "reasoning", "tool_call")]
        return [f for f in self.frames if f.data.startswith("{") and _has_content(f.json())]

    @property
    def text(self) -> str:
        if self.native:
            return "".join(f.json()["text"] for f in self.named("text"))
        return "".join(d.get("content") or "" for d in self.deltas())

    @property
    def reasoning(self) -> str:
        if self.native:
            return "".join(f.json()["text"] for f in self.named("reasoning"))
        return "".join(d.get("reasoning_content") or "" for d in self.deltas())

    def tool_calls(self) -> dict[int, dict[str, str]]:
        """Tool calls assembled by index: ``{index: {id, name, arguments}}``."""
        calls: dict[int, dict[str, str]] = {}
        if self.native:
            parts = [f.json() for f in self.named("tool_call")]
        else:
            parts = [
                {"index": c["index"], "id": c.get("id", ""), **c["function"]}
                for d in self.deltas()
                for c in d.get("tool_calls") or ()
            ]
        for p in parts:
            call = calls.setdefault(p["index"], {"id": "", "name": "", "arguments": ""})
            call["id"] = call["id"] or p.get("id", "")
            call["name"] = call["name"] or p.get("name", "")
            call["arguments"] += p.get("arguments", "")
        return calls


def _has_content(chunk: dict[str, Any]) -> bool:
    for choice in chunk.get("choices", []):
        delta = choice.get("delta", {})
        if delta.get("content") or delta.get("reasoning_content") or delta.get("tool_calls"):
            return True
    return False


def request_body(path: str, model: str = "up/m", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": MESSAGES, **extra}
    if path == OPENAI:
        body.setdefault("stream", True)
        body.setdefault("stream_options", {"include_usage": True})
    return body


Stop = Callable[[Result], bool]


def after_content(n: int) -> Stop:
    """A ``stop_when`` that leaves once ``n`` content frames have arrived."""
    return lambda r: len(r.content_frames()) >= n


async def chat(
    base_url: str,
    path: str,
    *,
    body: dict[str, Any] | None = None,
    stop_when: Stop | None = None,
    leave_after: float | None = None,
    timeout: float = 15.0,
) -> Result:
    """POST and read the whole stream with httpx. Leave early once ``stop_when`` holds, or
    once ``leave_after`` seconds have passed (a client-side deadline, even while waiting for
    the headers: cancelling an httpx request closes its connection)."""
    result = Result(path)
    decoder = SSEDecoder()
    async with httpx.AsyncClient(timeout=timeout) as client:
        request = client.build_request("POST", base_url + path, json=body or request_body(path))
        resp: httpx.Response | None = None
        result.sent_at = time.monotonic()
        try:
            async with asyncio.timeout(leave_after):
                resp = await client.send(request, stream=True)
                result.status = resp.status_code
                result.headers = {k.lower(): v for k, v in resp.headers.items()}
                async for chunk in resp.aiter_raw():
                    if _take(result, decoder, chunk, stop_when):
                        result.closed_at = time.monotonic()
                        break
                else:
                    result.ended_at = time.monotonic()
        except TimeoutError:
            assert leave_after is not None
            result.closed_at = result.sent_at + leave_after  # when the client gave up
        finally:
            if resp is not None:
                await resp.aclose()  # on an unfinished response this closes the connection
    return result


def _take(result: Result, decoder: SSEDecoder, chunk: bytes, stop_when: Stop | None) -> bool:
    now = time.monotonic()
    result.raw += chunk
    if "event-stream" in result.headers.get("content-type", ""):
        for ev in decoder.feed(chunk):
            result.frames.append(Frame(ev.event, ev.data, now))
    return stop_when is not None and stop_when(result)


async def raw_chat(
    base_url: str,
    path: str,
    *,
    body: dict[str, Any] | None = None,
    stop_when: Stop | None = None,
    leave_after: float | None = None,
    reset: bool = False,
    timeout: float = 15.0,
) -> Result:
    """Like ``chat`` over a raw socket: leave with FIN, or RST when ``reset``, once
    ``stop_when`` holds or ``leave_after`` seconds have passed (even before any header)."""
    host, port = base_url.removeprefix("http://").split(":")
    result = Result(path)
    decoder = SSEDecoder()
    reader, writer = await asyncio.open_connection(host, int(port))
    conn = h11.Connection(h11.CLIENT)
    payload = json.dumps(body or request_body(path)).encode()
    head = [("host", f"{host}:{port}"), ("content-type", "application/json")]
    head.append(("content-length", str(len(payload))))
    out = conn.send(h11.Request(method="POST", target=path, headers=head))
    out += conn.send(h11.Data(data=payload)) + conn.send(h11.EndOfMessage())  # type: ignore[operator]
    result.sent_at = time.monotonic()
    writer.write(out)
    deadline = result.sent_at + (leave_after if leave_after is not None else timeout)
    try:
        while result.ended_at is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                data = await asyncio.wait_for(reader.read(65536), remaining)
            except TimeoutError:
                break
            conn.receive_data(data)
            if _h11_events(conn, result, decoder, stop_when) or not data:
                break
    finally:
        if result.ended_at is None:
            if reset:
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            result.closed_at = time.monotonic()
            writer.transport.abort() if reset else writer.close()
        else:
            writer.close()
        # asyncio closes the socket on a later loop iteration: let it, before the caller
        # blocks on anything (a test waiting on the fake would otherwise hold the close back).
        with suppress(ConnectionError):
            await writer.wait_closed()
    return result


def _h11_events(
    conn: h11.Connection, result: Result, decoder: SSEDecoder, stop: Stop | None
) -> bool:
    while True:
        ev = conn.next_event()
        if ev is h11.NEED_DATA or ev is h11.PAUSED:
            return False
        if isinstance(ev, h11.Response):
            result.status = ev.status_code
            result.headers = {k.decode().lower(): v.decode() for k, v in ev.headers}
        elif isinstance(ev, h11.Data):
            if _take(result, decoder, bytes(ev.data), stop):
                return True
        elif isinstance(ev, h11.EndOfMessage | h11.ConnectionClosed):
            result.ended_at = time.monotonic()
            return False


def assert_clean(
    result: Result, fake: FakeUpstream, logs: LogCapture, *, close_within: float = 2.0
) -> None:
    """A "clean end" (docs/reliability.md): exactly one terminal frame, last, and the response ends
    right after it (``AT_ONCE``); no traceback logged; every upstream connection closed, nothing
    running."""
    if result.frames:  # an HTTP error status has no frames: checked by the caller
        terminals = result.terminals
        assert len(terminals) == 1, [f.event + " " + f.data[:80] for f in result.frames]
        assert result.frames[-1] is terminals[0]
        assert result.ended_at is not None, "the response did not end after its terminal frame"
        assert result.ended_at - terminals[0].at <= AT_ONCE
    assert_upstream_closed(fake, logs, within=close_within)


def assert_upstream_closed(fake: FakeUpstream, logs: LogCapture, *, within: float = 2.0) -> None:
    for rec in fake.requests:
        assert rec.wait_finished(within), f"attempt {rec.attempt}: upstream connection left open"
        assert rec.peer_closed_at is not None or rec.closed_how == "rst", rec
    assert fake.wait_all_finished(within)
    assert not fake.errors, fake.errors
    assert "Traceback" not in logs.text(), logs.text()


__all__ = [
    "MESSAGES",
    "NATIVE",
    "OPENAI",
    "Frame",
    "Result",
    "after_content",
    "assert_clean",
    "assert_upstream_closed",
    "chat",
    "raw_chat",
    "request_body",
]
