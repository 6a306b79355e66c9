"""The script DSL of the fake upstream: the actions that answer one request, and ``Script``.

Each action (``headers``, ``respond``, ``event``, ``data``, ``done``, ``end_chunked``, ``sleep``,
``stall``, ``fin``, ``rst``, ``mark``, ...) is one step run against a ``Conn``; a ``Script`` is
the flattened list of them plus slicing and linger settings. Split out of
``tests.support.upstream`` so what a test says the upstream does is apart from how bytes move
and how the server runs; tests import these names from ``tests.support.upstream``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tests.support.upstream_conn import WAIT_MAX, Conn, _PeerGone


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
