"""The Vercel AI SDK's UI message stream (v1): what ``useChat`` with ``DefaultChatTransport``
reads from ``POST /api/ui/chat`` (docs/vercel.md).

Every frame is ``data: <part>\\n\\n``, one JSON object whose ``type`` names the part, and the
stream ends with ``data: [DONE]\\n\\n``. The client validates each part against its schema:
an unknown type or a missing field fails the whole stream, and some AI SDK versions reject a
field too many as well (others pass it through), so a part carries exactly the fields its
schema allows, and the major the front end runs (``[ui] sdk_major``) decides which parts and
fields exist at all. What each ``ChatEvent`` becomes:

* the first batch opens the message: ``start`` (its ``messageId``: the stored answer's id when
  the turn is stored, else one made from the stream id), then ``start-step`` (one step: an
  answer is one model call here);
* text is a ``text-start``/``text-delta``.../``text-end`` block, reasoning a ``reasoning-*``
  block; a run of deltas in one batch is one delta, and a block closes when another kind of
  output starts (or the stream ends). A reasoning signature ends its block; an encrypted
  (redacted) reasoning block has no text to show and makes no part;
* a tool call is ``tool-input-start`` then its argument fragments as ``tool-input-delta``; at
  the end of the stream each call is ``tool-input-available`` with its arguments parsed. Text
  that is not JSON (a model's broken output) is ``tool-input-error`` for ai@6 (the raw text as
  ``input``), and for ai@5, which may not know that part, ``tool-input-available`` with the raw
  text as ``input``: the client's ``input`` is any JSON value, so nothing is lost;
* usage is kept and sent once, in ``finish``'s ``messageMetadata`` (``{"usage": {...}}``, the
  AI SDK's own names): the stream has no part of its own for it;
* the end is ``finish-step`` and ``finish``, with ``finishReason`` for ai@6 (the first ai@5
  releases' ``finish`` has no such field; every ai@5 knows the step parts). A stopped run
  (``cancelled``) ends with ``abort`` instead (ai@6 adds ``reason``). An error after the
  headers is an ``error`` part (``errorText``: the error's message, never reworded) and
  ``[DONE]``.

Tool approval requests (``tool-approval-request``) are never sent: aichatflow runs no tools, it
streams the model's calls for the client to run, so there is no approval to ask for. Sources,
files and ``data-*`` parts are not sent either: no ``ChatEvent`` carries them.

Before the headers an error is a JSON body with the code's HTTP status (the native error
shape, like every ``/api`` route; ``useChat`` shows the response text). Headers wait for the
first batch so an upstream refusal can still be such a status. Frames are built from byte
templates fixed per stream and orjson output, which never emits a raw CR, LF or NUL, so model
output cannot end a frame early; U+2028/2029 stay raw, which SSE does not treat as line ends.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson

from ..events import (
    ChatEvent,
    Finish,
    FinishReason,
    ReasoningDelta,
    StreamError,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    Usage,
    UsageUpdate,
)
from .base import ChatEventDialect, Headers, TurnMode
from .native import NATIVE_ERRORS

_dumps = orjson.dumps

SdkMajor = Literal[5, 6]

UI_MESSAGE_STREAM_HEADERS: Headers = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"connection", b"keep-alive"),
    (b"x-vercel-ai-ui-message-stream", b"v1"),
    (b"x-accel-buffering", b"no"),
]
"""The AI SDK's own ``UI_MESSAGE_STREAM_HEADERS``, byte for byte."""

DONE = b"data: [DONE]\n\n"
START_STEP = b'data: {"type":"start-step"}\n\n'
FINISH_STEP = b'data: {"type":"finish-step"}\n\n'

_FINISH_REASONS: frozenset[FinishReason] = frozenset(
    {"stop", "length", "tool-calls", "content-filter", "error", "other"}
)
"""aichatflow's finish reasons that ai@6's ``finishReason`` shares by name (``cancelled`` is
an ``abort``; any reason added later is ``other``)."""


def ui_usage(usage: Usage) -> dict[str, int]:
    """Usage in the AI SDK's names (its ``LanguageModelUsage``)."""
    return {
        "inputTokens": usage.input_tokens,
        "outputTokens": usage.output_tokens,
        "totalTokens": usage.input_tokens + usage.output_tokens,
        "reasoningTokens": usage.reasoning_tokens,
        "cachedInputTokens": usage.cached_input_tokens,
    }


class _Tool:
    """A tool call being streamed: its id, name and argument text so far."""

    __slots__ = ("arguments", "id", "name")

    def __init__(self, call_id: str, name: str) -> None:
        self.id = call_id
        self.name = name
        self.arguments: list[str] = []


class UIMessageStreamDialect(ChatEventDialect):
    """Renders ``ChatEvent`` batches as the UI message stream (module docstring)."""

    headers_on_open = False
    buffered = False
    error_shape = NATIVE_ERRORS
    turns: TurnMode | None = "replace"

    def __init__(self, stream_id: str, model: str, *, sdk_major: SdkMajor = 6) -> None:
        super().__init__(stream_id)
        self.model = model
        self.sdk_major = sdk_major
        self.message_id = f"msg_{stream_id}"
        """The ``messageId`` of ``start``: the stored answer's id once ``begin_turn`` named it."""
        self._ai6 = sdk_major >= 6
        """Whether ``finishReason``, ``tool-input-error`` and ``abort``'s ``reason`` exist: fields
        and a part the first ai@5 releases (strict schemas) reject."""
        self._started = False
        self._open: type | None = None  # TextDelta or ReasoningDelta: the open block's kind
        self._blocks = 0  # blocks opened so far: the next block's id
        self._delta = b""  # the open block's delta template, up to the JSON text
        self._end = b""  # the open block's end part
        self._run: list[str] = []  # text of the open block not yet written
        self._tools: dict[int, _Tool] = {}

    def begin_turn(self, conversation_id: str, message_id: str) -> None:
        """``start`` names the stored answer, so a replay (resume) names the same message."""
        self.message_id = message_id

    def headers(self) -> Headers:
        request_id = (b"x-request-id", self.request_id.encode("ascii"))
        return [*UI_MESSAGE_STREAM_HEADERS, request_id, *self.extra_headers]

    def open(self) -> bytes:
        """Nothing: ``start`` is the first frame ``render`` writes (headers wait for the first
        batch, which is rendered before ``open`` is asked for)."""
        return b""

    def render(self, batch: list[ChatEvent]) -> bytes:
        if self.terminal:
            return b""
        if self._started and len(batch) == 1 and batch[0].__class__ is TextDelta:
            self.content = True  # the hot path: one delta into the open text block
            if self._open is TextDelta:
                return self._delta + _dumps(batch[0].text) + b"}\n\n"
        out: list[bytes] = []
        if not self._started:
            self._started = True
            start = {"type": "start", "messageId": self.message_id}
            out.append(b"data: " + _dumps(start) + b"\n\n" + START_STEP)
        self.content = False
        for event in batch:
            cls = event.__class__
            if cls is TextDelta:
                self.content = True
                if self._open is not TextDelta:  # inline: most deltas continue the open block
                    self._enter(TextDelta, out)
                self._run.append(event.text)  # type: ignore[union-attr]
            elif cls is ReasoningDelta:
                self.content = True
                self._reasoning(event, out)  # type: ignore[arg-type]
            elif self._other(event, out):
                out.append(DONE)
                return b"".join(out)
        self._flush(out)
        return b"".join(out)

    def _reasoning(self, event: ReasoningDelta, out: list[bytes]) -> None:
        if event.text:
            if self._open is not ReasoningDelta:
                self._enter(ReasoningDelta, out)
            self._run.append(event.text)
        if event.signature and self._open is ReasoningDelta:
            self._close(out)  # a signature ends its reasoning block

    def _other(self, event: ChatEvent, out: list[bytes]) -> bool:
        """Every event but text and reasoning; True once the stream ended."""
        if isinstance(event, ToolCallDelta):
            self.content = True
            self._tool(event, out)
        elif isinstance(event, UsageUpdate):
            self.usage = event.usage
        elif isinstance(event, Finish):
            self._close(out)
            self.usage = event.usage or self.usage
            self._finish(event.reason, out)
            self.terminal = True
        elif isinstance(event, StreamError):
            self._close(out)
            out.append(b"data: " + _dumps({"type": "error", "errorText": event.message}) + b"\n\n")
            self.terminal = True
        elif isinstance(event, StreamStart):
            self.answered_by = event.model
        else:
            raise TypeError(f"not a ChatEvent: {event!r}")
        return self.terminal

    def _tool(self, event: ToolCallDelta, out: list[bytes]) -> None:
        self._close(out)  # pending text first: frames keep the order the events came in
        tool = self._tools.get(event.index)
        if tool is None:
            call_id = event.id or f"call_{self.stream_id}_{event.index}"
            tool = self._tools[event.index] = _Tool(call_id, event.name)
            start = {"type": "tool-input-start", "toolCallId": call_id, "toolName": event.name}
            out.append(b"data: " + _dumps(start) + b"\n\n")
        if event.arguments:
            tool.arguments.append(event.arguments)
            delta = {
                "type": "tool-input-delta",
                "toolCallId": tool.id,
                "inputTextDelta": event.arguments,
            }
            out.append(b"data: " + _dumps(delta) + b"\n\n")

    def _finish(self, reason: FinishReason, out: list[bytes]) -> None:
        for tool in self._tools.values():
            out.append(b"data: " + _dumps(self._tool_input(tool)) + b"\n\n")
        out.append(FINISH_STEP)
        if reason == "cancelled":
            abort: dict[str, Any] = {"type": "abort"}
            if self._ai6:
                abort["reason"] = "cancelled"
            out.append(b"data: " + _dumps(abort) + b"\n\n")
            return
        finish: dict[str, Any] = {"type": "finish"}
        if self._ai6:
            finish["finishReason"] = reason if reason in _FINISH_REASONS else "other"
        if self.usage is not None:
            finish["messageMetadata"] = {"usage": ui_usage(self.usage)}
        out.append(b"data: " + _dumps(finish) + b"\n\n")

    def _tool_input(self, tool: _Tool) -> dict[str, Any]:
        """``tool-input-available`` with the parsed arguments, or what broken JSON becomes
        (the module docstring)."""
        text = "".join(tool.arguments)
        part: dict[str, Any] = {
            "type": "tool-input-available",
            "toolCallId": tool.id,
            "toolName": tool.name,
        }
        if not text.strip():
            part["input"] = {}
            return part
        try:
            part["input"] = orjson.loads(text)
        except orjson.JSONDecodeError:
            part["input"] = text
            if self._ai6:
                part["type"] = "tool-input-error"
                part["errorText"] = "the tool call's arguments are not valid JSON"
        return part

    def _enter(self, kind: type, out: list[bytes]) -> None:
        """Make the open block a ``kind`` block (text or reasoning), closing another."""
        if self._open is kind:
            return
        self._close(out)
        name = b"text" if kind is TextDelta else b"reasoning"
        block = b"%s-%d" % (name, self._blocks)
        self._blocks += 1
        out.append(b'data: {"type":"%s-start","id":"%s"}\n\n' % (name, block))
        self._delta = b'data: {"type":"%s-delta","id":"%s","delta":' % (name, block)
        self._end = b'data: {"type":"%s-end","id":"%s"}\n\n' % (name, block)
        self._open = kind

    def _flush(self, out: list[bytes]) -> None:
        """Write the open block's pending text as one delta."""
        if not self._run:
            return
        text = self._run[0] if len(self._run) == 1 else "".join(self._run)
        self._run = []
        out.append(self._delta + _dumps(text) + b"}\n\n")

    def _close(self, out: list[bytes]) -> None:
        if self._open is None:
            return
        self._flush(out)
        out.append(self._end)
        self._open = None


__all__ = [
    "DONE",
    "UI_MESSAGE_STREAM_HEADERS",
    "SdkMajor",
    "UIMessageStreamDialect",
    "ui_usage",
]
