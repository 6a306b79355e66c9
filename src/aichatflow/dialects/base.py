"""The contract between the stream engine and an output dialect.

A dialect turns batches of ``ChatEvent`` into bytes for one response. It is a small stateful
object made per response (it numbers frames, remembers usage, knows whether it has started).
The engine owns timing, I/O and error handling; the dialect owns bytes and headers only.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from ..events import ChatEvent, Finish, StreamError, Usage
from .error_shape import ErrorShape, Headers, retry_after_headers

SSE_HEADERS: Headers = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
"""Headers of every event stream: no proxy buffering, no caching (docs/protocol.md)."""


T = TypeVar("T")


class Dialect(Protocol[T]):
    headers_on_open: bool
    """Send headers and ``open()`` at once, before the upstream answers (browsers and proxies
    see life immediately). When False, headers wait for the first batch, so an upstream failure
    before it can still be a real HTTP status."""
    buffered: bool
    """Nothing is written until the terminal event (a non-streaming JSON body)."""
    terminal: bool
    """Set by ``render`` once it rendered a terminal event; later events are ignored."""
    content: bool
    """Set by ``render`` when the last batch held content (text, reasoning, tool calls), also by
    a buffered dialect that writes nothing yet: the engine's progress timer depends on it."""
    status: int
    heartbeat: bytes
    request_id: str
    """``x-request-id`` and the ``request_id`` of its error objects (``DialectState``)."""
    extra_headers: Headers
    """Headers the server adds to the response, whatever its status."""
    usage: Usage | None
    """The stream's last usage, once it ended."""
    answered_by: str
    """The ``provider/model`` that answered (its ``StreamStart``), once it started."""

    @property
    def error_shape(self) -> ErrorShape:
        """How this dialect words an error, before the headers and after (``error_shape.py``)."""
        ...

    def headers(self) -> Headers: ...

    def open(self) -> bytes: ...

    def render(self, batch: list[T]) -> bytes: ...

    def end(self) -> bytes:
        """The terminal frame for a source that ended without a terminal event."""
        ...

    def error(self, error: StreamError) -> bytes:
        """The terminal error frame, after the headers were sent: ``error_shape``'s object."""
        ...

    def error_response(self, error: StreamError, status: int = 0) -> tuple[int, Headers, bytes]:
        """A whole response for a failure before any header was sent (``error_shape``'s; the
        status is the code's own unless given)."""
        ...


class DialectState:
    """What every dialect keeps per response (the attributes the engine reads)."""

    heartbeat = b": hb\n\n"
    error_shape: ErrorShape

    def __init__(self, stream_id: str) -> None:
        self.stream_id = stream_id
        self.request_id = stream_id
        """The ``x-request-id`` and the ``request_id`` of error objects; a server that names
        its requests itself (an incoming ``x-request-id``) sets it before the stream starts."""
        self.extra_headers: Headers = []
        """Headers the server adds to this response, whatever its status (CORS, rate-limit
        state); set before the stream starts."""
        self.terminal = False
        self.content = False
        self.status = 200
        self.usage: Usage | None = None
        """The last usage the stream reported (an update or the finish's), for the server's
        records once the stream ended."""
        self.answered_by = ""
        """The ``provider/model`` that answered, from ``StreamStart`` (the fallback that did,
        when the first deployment failed)."""

    def error_response(self, error: StreamError, status: int = 0) -> tuple[int, Headers, bytes]:
        code, headers, body = self.error_shape.response(error, self.request_id, status=status)
        return code, [*headers, *self.extra_headers], body


class ChatEventDialect(DialectState):
    """Base of the dialects that render ``ChatEvent``s: ending is rendering a terminal event."""

    def render(self, batch: list[ChatEvent]) -> bytes:
        raise NotImplementedError  # abstract

    def end(self) -> bytes:
        return self.render([Finish(reason="stop")])

    def error(self, error: StreamError) -> bytes:
        return self.render([error])


__all__ = [
    "SSE_HEADERS",
    "ChatEventDialect",
    "Dialect",
    "DialectState",
    "ErrorShape",
    "Headers",
    "retry_after_headers",
]
