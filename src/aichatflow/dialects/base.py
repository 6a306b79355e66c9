"""The contract between the stream engine and an output dialect.

A dialect turns batches of ``ChatEvent`` into bytes for one response. It is a small stateful
object made per response (it numbers frames, remembers usage, knows whether it has started).
The engine owns timing, I/O and error handling; the dialect owns bytes and headers only.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, TypeVar

from ..events import (
    ChatEvent,
    Finish,
    ReasoningDelta,
    StreamError,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from ..transcript import Transcript, TranscriptBuilder
from .error_shape import ErrorShape, Headers, retry_after_headers

SSE_HEADERS: Headers = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
"""Headers of every event stream: no proxy buffering, no caching (docs/protocol.md)."""


T = TypeVar("T")
TurnMode = Literal["continue", "replace"]
"""How a dialect's requests are turns of a stored conversation (``Dialect.turns``)."""


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
    turns: TurnMode | None
    """Whether a request in this dialect is a turn of a stored conversation, and how
    (``server/turns.py``): ``"continue"`` when the server holds the history, ``"replace"`` when
    the client sends all of it; ``None``: not stored."""

    def begin_turn(self, conversation_id: str, message_id: str) -> None:
        """The stored conversation this response answers in, and its answer's message id;
        called before the stream starts (only when ``turns`` is set)."""
        ...

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
    turns: TurnMode | None = None

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

    def begin_turn(self, conversation_id: str, message_id: str) -> None:
        """Only dialects with ``turns`` are told their conversation (``Dialect.begin_turn``)."""

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


class FoldedBodyDialect(ChatEventDialect):
    """Base of the non-streaming dialects: the stream is folded by the transcript reducer and
    written as one JSON body at its terminal event (or, on an error, as the error response).

    ``content`` is still reported per batch: the engine's timers must see content arrive to
    move from the ``first_token`` limit to the ``progress`` limit, exactly as when streaming
    (otherwise a long answer dies at ``first_token`` while it is folded). A subclass gives
    ``body`` (the JSON of the finished transcript) and may add headers (``id_headers``).
    """

    headers_on_open = False
    buffered = True

    def __init__(self, stream_id: str, *args: Any) -> None:
        super().__init__(stream_id, *args)  # a dialect's own base may take more (the model)
        self._builder = TranscriptBuilder()
        self._error_headers: Headers | None = None

    def id_headers(self) -> Headers:
        """``x-request-id`` and the server's extra headers."""
        return [(b"x-request-id", self.request_id.encode()), *self.extra_headers]

    def headers(self) -> Headers:
        """The body's headers, or the error response's when the stream ended in an error."""
        if self._error_headers is not None:
            return self._error_headers
        return [(b"content-type", b"application/json"), *self.id_headers()]

    def open(self) -> bytes:
        return b""

    def render(self, batch: list[ChatEvent]) -> bytes:
        """Fold the batch; nothing is written until the terminal event."""
        if self.terminal:
            return b""
        self.content = False
        add = self._builder.add
        for event in batch:
            add(event)
            if event.__class__ in CONTENT_EVENTS:
                self.content = True
            elif isinstance(event, StreamError):
                self.terminal = True
                self.status, self._error_headers, body = self.error_response(event)
                return body
            elif isinstance(event, Finish):
                self.terminal = True
                transcript = self._builder.result()
                self.usage, self.answered_by = transcript.usage, transcript.model
                return self.body(transcript)
        return b""

    def body(self, transcript: Transcript) -> bytes:
        raise NotImplementedError  # abstract


CONTENT_EVENTS = frozenset({TextDelta, ReasoningDelta, ToolCallDelta})
"""The events that count as model output for the watchdog's progress timer."""


__all__ = [
    "CONTENT_EVENTS",
    "SSE_HEADERS",
    "ChatEventDialect",
    "Dialect",
    "DialectState",
    "ErrorShape",
    "FoldedBodyDialect",
    "Headers",
    "TurnMode",
    "retry_after_headers",
]
