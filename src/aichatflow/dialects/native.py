"""The native browser protocol (docs/protocol.md): one named SSE event per ChatEvent.

Frames are built from a per-stream id prefix and orjson output. orjson never emits a raw CR or
LF (it escapes them), and the event names are constants, so a frame cannot be injected into; the
general checked encoder in ``aichatflow.sse`` is not needed on this hot path.

Consecutive text (or reasoning) deltas of one batch are merged into one frame: when the client
reads slower than the provider writes, what piled up goes out as one frame, not hundreds.

A frame's id is ``<stream_id>.<position>``, the position of the last event it carries, counting
every event of the stream from 1 (events that make no frame, such as ``start``, count too). So
ids grow strictly but may skip numbers where deltas were merged, and a position means the same
in every response: a reader resuming after ``<stream_id>.k`` from a journal (``journal/``) gets
exactly the events after the k-th, however they were batched the first time.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..events import (
    ChatEvent,
    Finish,
    ReasoningDelta,
    StreamError,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    UsageUpdate,
)
from .base import SSE_HEADERS, ChatEventDialect, Headers, TurnMode
from .error_shape import ErrorShape

_dumps = orjson.dumps


class NativeErrorShape(ErrorShape):
    """``{"code", "message", "retryable", "retry_after", "request_id"}``: the data of the
    ``error`` frame, and inside ``{"error": ...}`` (plus ``details``) as a JSON body."""

    name = "native"

    def fields(self, error: StreamError, request_id: str) -> dict[str, Any]:
        return {
            "code": error.code,
            "message": error.message,
            "retryable": error.retryable,
            "retry_after": error.retry_after,
            "request_id": request_id,
        }


NATIVE_ERRORS = NativeErrorShape()


class NativeDialect(ChatEventDialect):
    """Renders ``ChatEvent`` batches as the native ``text/event-stream`` protocol."""

    headers_on_open = True
    buffered = False
    error_shape = NATIVE_ERRORS
    turns: TurnMode | None = "continue"

    def __init__(
        self, stream_id: str, model: str, *, retry_ms: int = 2000, deployment: str | None = None
    ) -> None:
        super().__init__(stream_id)
        self.model = model
        self.retry_ms = retry_ms
        self.deployment = deployment
        """The ``provider/model`` expected to answer, announced in ``start``; if another one
        answers (a fallback), a ``model`` frame says so as soon as it starts."""
        self.seq = 0
        """The position of the last event rendered (the module docstring)."""
        self.resumed = False
        self.journaled = False
        """This response reads a journal (``journal/``): the engine's own error frames then
        carry no id (``error``)."""
        self.start_fields: dict[str, Any] = {}
        """More fields of the ``start`` frame (a conversation id, ``shared``, ``cached``)."""
        self._sid = stream_id.encode("ascii")

    def resume(self, after: int) -> None:
        """This response continues the stream after position ``after``: it opens with the
        ``retry`` hint and that id only (no second ``start`` event), then the events after it."""
        self.seq = after
        self.resumed = True

    def begin_turn(self, conversation_id: str, message_id: str) -> None:
        """The ``start`` frame names the stored conversation and the answer's message."""
        self.start_fields["conversation_id"] = conversation_id
        self.start_fields["message_id"] = message_id

    def headers(self) -> Headers:
        request_id = (b"x-request-id", self.request_id.encode("ascii"))
        return [*SSE_HEADERS, request_id, *self.extra_headers]

    def open(self) -> bytes:
        if self.resumed:
            return b"retry: %d\nid: %s.%d\n\n" % (self.retry_ms, self._sid, self.seq)
        start: dict[str, Any] = {"stream_id": self.stream_id, "model": self.model}
        if self.deployment is not None:
            start["deployment"] = self.deployment
        if self.start_fields:
            start.update(self.start_fields)
        data = _dumps(start)
        return b"retry: %d\nid: %s.0\nevent: start\ndata: %s\n\n" % (self.retry_ms, self._sid, data)

    def _frame(self, event: bytes, data: bytes) -> bytes:
        """A frame for the event at the current position."""
        return b"id: %s.%d\nevent: %s\ndata: %s\n\n" % (self._sid, self.seq, event, data)

    def _text(self, event: bytes, text: str, seq: int) -> bytes:
        """A text (or reasoning) frame ending at position ``seq``."""
        return b'id: %s.%d\nevent: %s\ndata: {"text":%s}\n\n' % (
            self._sid,
            seq,
            event,
            _dumps(text),
        )

    def render(self, batch: list[ChatEvent]) -> bytes:
        if self.terminal:
            return b""
        if len(batch) == 1:
            event = batch[0]
            cls = event.__class__
            if cls is TextDelta:
                self.content = True
                self.seq += 1
                return self._text(b"text", event.text, self.seq)  # type: ignore[union-attr]
        self.content = False
        out: list[bytes] = []
        run: list[str] = []
        run_cls: type | None = None
        for event in batch:
            self.seq += 1
            cls = event.__class__
            if cls is TextDelta or (
                cls is ReasoningDelta and not (event.signature or event.redacted)  # type: ignore[union-attr]
            ):
                self.content = True
                if cls is not run_cls and run:
                    out.append(self._text(_NAME[run_cls], "".join(run), self.seq - 1))
                    run = []
                run_cls = cls
                run.append(event.text)  # type: ignore[union-attr]
                continue
            if run:
                out.append(self._text(_NAME[run_cls], "".join(run), self.seq - 1))
                run = []
                run_cls = None
            if self._other(event, out):
                break
        if run:
            out.append(self._text(_NAME[run_cls], "".join(run), self.seq))
        return b"".join(out)

    def error(self, error: StreamError) -> bytes:
        """The terminal error the engine itself ends a stream with (a failure, a timeout, a
        shutdown). Read from a journal, it has no ``id`` line: it is no event of the run and
        has no position there, and a client resuming after it must continue from the last
        event it really got, which may well be followed by more (``server_shutting_down``
        tells a reader to go while the run goes on). Without a journal it is the stream's
        last event and takes the next position, as any event does."""
        if not self.journaled:
            return self.render([error])
        if self.terminal:
            return b""
        self.terminal = True
        data = _dumps(self.error_shape.fields(error, self.request_id))
        return b"event: error\ndata: %s\n\n" % data

    def _other(self, event: ChatEvent, out: list[bytes]) -> bool:
        """Render a non-text event; True when it was terminal."""
        if isinstance(event, ReasoningDelta):  # one that closes a block: never merged
            self.content = True
            data: dict[str, Any] = {"text": event.text}
            if event.signature:
                data["signature"] = event.signature
            if event.redacted:
                data["redacted"] = event.redacted
            out.append(self._frame(b"reasoning", _dumps(data)))
        elif isinstance(event, ToolCallDelta):
            self.content = True
            data = {
                "index": event.index,
                "id": event.id,
                "name": event.name,
                "arguments": event.arguments,
            }
            out.append(self._frame(b"tool_call", _dumps(data)))
        elif isinstance(event, UsageUpdate):
            self.usage = event.usage
            out.append(self._frame(b"usage", _dumps(event.usage.as_dict())))
        elif isinstance(event, Finish):
            usage = self.usage = event.usage or self.usage
            done: dict[str, Any] = {
                "finish_reason": event.reason,
                "usage": usage.as_dict() if usage else None,
            }
            out.append(self._frame(b"done", _dumps(done)))
            self.terminal = True
        elif isinstance(event, StreamError):
            error = self.error_shape.fields(event, self.request_id)
            out.append(self._frame(b"error", _dumps(error)))
            self.terminal = True
        elif isinstance(event, StreamStart):
            self.answered_by = event.model
            if self.deployment is not None and event.model and event.model != self.deployment:
                self.deployment = event.model
                out.append(self._frame(b"model", _dumps({"deployment": event.model})))
        else:
            raise TypeError(f"not a ChatEvent: {event!r}")
        return self.terminal


_NAME: dict[type | None, bytes] = {TextDelta: b"text", ReasoningDelta: b"reasoning"}

__all__ = ["NATIVE_ERRORS", "NativeDialect", "NativeErrorShape"]
