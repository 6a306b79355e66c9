"""The Anthropic Messages dialect: ``POST /v1/messages`` as the ``anthropic`` SDK reads it.

Streaming writes Anthropic's named SSE events, one JSON object each, ``event: <type>`` naming
the object's ``type``: ``message_start``, then content blocks one after another
(``content_block_start``, ``content_block_delta``..., ``content_block_stop``), then
``message_delta`` (``stop_reason`` and the final usage) and ``message_stop``. Blocks are
numbered in order of appearance, whatever the kind:

* text is a ``text`` block of ``text_delta``s (a run of deltas in one batch is one delta);
* reasoning is a ``thinking`` block of ``thinking_delta``s, closed by its ``signature_delta``
  when the upstream signed it (Anthropic itself); an encrypted block is a whole
  ``redacted_thinking`` block;
* a tool call is a ``tool_use`` block (its id and name) whose arguments arrive as
  ``input_json_delta`` fragments. An upstream that interleaves the arguments of parallel calls
  gets each fragment addressed to its own block by ``index`` (blocks are never reopened).

The heartbeat is Anthropic's ``ping`` event. A failure after the headers is an ``event: error``
frame with the error shape's object (``anthropic_errors.py``), which the SDK raises; headers wait
for the first batch, so a failure before it is a real HTTP status, as with the OpenAI dialect.
``stream: false`` folds the events with the transcript reducer into one ``message`` object.

The hot path is a text delta: its frame is the open block's head, encoded once when the block
starts (``_HEADS``), then orjson's encoding of the text and a fixed tail; a batch of one text
delta into an open text block skips the loop. Building and encoding the whole
``content_block_delta`` object per event cost about 2.5 times the native frame
(``benchmarks/run_dialects.py``); the template writes the same bytes (``tests/dialects/
test_anthropic_identity.py`` renders many sequences both ways).
"""

from __future__ import annotations

from typing import Any

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
from ..transcript import Transcript
from .anthropic_errors import ANTHROPIC_ERRORS
from .base import SSE_HEADERS, ChatEventDialect, FoldedBodyDialect, Headers

_dumps = orjson.dumps

STOP_REASONS = frozenset(
    {"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"}
)
"""Anthropic's own ``stop_reason`` values: an Anthropic upstream's raw reason is kept as is."""

_STOP: dict[FinishReason, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool-calls": "tool_use",
    "content-filter": "refusal",
}


def anthropic_stop_reason(reason: FinishReason | None, raw: str | None = None) -> str:
    """Anthropic's ``stop_reason``: the upstream's own when it is one (``stop_sequence``...),
    else the mapped finish reason (``end_turn`` for the ones Anthropic has no word for)."""
    if raw in STOP_REASONS:
        return raw
    return _STOP.get(reason, "end_turn") if reason else "end_turn"


def anthropic_usage(usage: Usage | None) -> dict[str, int]:
    """Anthropic's usage: its ``input_tokens`` excludes cache reads, counted apart."""
    if usage is None:
        return {"input_tokens": 0, "output_tokens": 0}
    cached = usage.cached_input_tokens
    return {
        "input_tokens": max(usage.input_tokens - cached, 0),
        "output_tokens": usage.output_tokens,
        "cache_read_input_tokens": cached,
    }


def tool_input(arguments: str) -> Any:
    """A tool call's JSON text as the ``input`` object. Text that is not a JSON object (a
    model's broken output) is kept whole under ``_raw_arguments`` rather than dropped."""
    if not arguments.strip():
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        value = None
    return value if isinstance(value, dict) else {"_raw_arguments": arguments}


def _frame(kind: bytes, payload: dict[str, Any]) -> bytes:
    return b"event: " + kind + b"\ndata: " + _dumps(payload) + b"\n\n"


_HEADS = {
    kind: b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,'
    b'"delta":{"type":"' + kind + b'_delta","' + kind + b'":'
    for kind in (b"text", b"thinking")
}
"""The bytes of a text (thinking) ``content_block_delta`` frame before the string, per block
index: exactly what orjson writes for the object with its keys in this order."""
_TAIL = b"}}\n\n"


class _Base(ChatEventDialect):
    headers_on_open = False
    error_shape = ANTHROPIC_ERRORS

    def __init__(self, stream_id: str, model: str) -> None:
        super().__init__(stream_id)
        self.model = model
        self.message_id = f"msg_{stream_id}"

    def _ids(self) -> Headers:
        rid = self.request_id.encode()
        return [(b"x-request-id", rid), (b"request-id", rid), *self.extra_headers]

    def _tool_id(self, index: int, given: str) -> str:
        return given or f"toolu_{self.stream_id}_{index}"

    def _message(self, content: list[dict[str, Any]], usage: Usage | None) -> dict[str, Any]:
        return {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": anthropic_usage(usage),
        }


class AnthropicStreamDialect(_Base):
    """``stream: true``: Anthropic's event stream, block by block."""

    buffered = False
    heartbeat = b'event: ping\ndata: {"type": "ping"}\n\n'

    def __init__(self, stream_id: str, model: str) -> None:
        super().__init__(stream_id, model)
        self._started = False
        self._blocks = 0  # blocks started so far: the next block's index
        self._open: str | None = None  # kind of the open block: text, thinking or tool_use
        self._tools: dict[int, int] = {}  # tool call index -> its block's index
        self._run: list[str] = []  # text of the open text or thinking block, not yet written
        self._head = b""  # the open text or thinking block's delta frame up to the string

    def headers(self) -> Headers:
        return [*SSE_HEADERS, *self._ids()]

    def open(self) -> bytes:
        """Nothing: ``message_start`` is the first frame ``render`` writes (the engine renders
        the first batch before it asks for ``open``)."""
        return b""

    def render(self, batch: list[ChatEvent]) -> bytes:
        if self.terminal:
            return b""
        if len(batch) == 1 and self._open == "text":
            event = batch[0]
            if event.__class__ is TextDelta:  # the hot path: one token, its block open
                self.content = True
                return self._run_delta(event.text)
        self.content = False
        out: list[bytes] = []
        if not self._started:
            self._started = True
            out.append(
                _frame(
                    b"message_start", {"type": "message_start", "message": self._message([], None)}
                )
            )
        for event in batch:
            cls = event.__class__
            if cls is TextDelta:
                self.content = True
                if self._open != "text":
                    self._enter("text", out)
                self._run.append(event.text)  # type: ignore[union-attr]
            elif cls is ReasoningDelta:
                self.content = True
                self._reasoning(event, out)  # type: ignore[arg-type]
            elif self._other(event, out):
                break
        self._flush(out)
        return b"".join(out)

    def _reasoning(self, event: ReasoningDelta, out: list[bytes]) -> None:
        if event.redacted:
            self._close(out)
            block = {"type": "redacted_thinking", "data": event.redacted}
            index = self._start(block, out)
            out.append(
                _frame(b"content_block_stop", {"type": "content_block_stop", "index": index})
            )
            return
        self._enter("thinking", out)
        if event.text:
            self._run.append(event.text)
        if event.signature:
            self._flush(out)
            delta = {"type": "signature_delta", "signature": event.signature}
            out.append(self._delta(delta))
            self._close(out)  # a signature ends its thinking block

    def _other(self, event: ChatEvent, out: list[bytes]) -> bool:
        """Every event but text and reasoning; True once the stream ended."""
        if isinstance(event, ToolCallDelta):
            self.content = True
            index = self._tools.get(event.index)
            if index is None:
                self._close(out)
                block = {
                    "type": "tool_use",
                    "id": self._tool_id(event.index, event.id),
                    "name": event.name,
                    "input": {},
                }
                index = self._tools[event.index] = self._start(block, out)
                self._open = "tool_use"
            if event.arguments:
                delta = {"type": "input_json_delta", "partial_json": event.arguments}
                out.append(self._delta(delta, index))
        elif isinstance(event, UsageUpdate):
            self.usage = event.usage
        elif isinstance(event, Finish):
            self._close(out)
            self.usage = event.usage or self.usage
            stop = anthropic_stop_reason(event.reason, event.raw_reason)
            frame: dict[str, Any] = {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": anthropic_usage(self.usage),
            }
            out.append(_frame(b"message_delta", frame))
            out.append(_frame(b"message_stop", {"type": "message_stop"}))
            self.terminal = True
        elif isinstance(event, StreamError):
            self._flush(out)
            body = self.error_shape.body(event, self.request_id)
            out.append(b"event: error\ndata: " + body + b"\n\n")
            self.terminal = True
        elif isinstance(event, StreamStart):
            self.answered_by = event.model
        else:
            raise TypeError(f"not a ChatEvent: {event!r}")
        return self.terminal

    def _start(self, block: dict[str, Any], out: list[bytes]) -> int:
        index = self._blocks
        self._blocks += 1
        start = {"type": "content_block_start", "index": index, "content_block": block}
        out.append(_frame(b"content_block_start", start))
        return index

    def _enter(self, kind: str, out: list[bytes]) -> None:
        """Make the open block a ``kind`` block (text or thinking), closing another kind."""
        if self._open == kind:
            return
        self._close(out)
        index = self._start(
            {"type": "text", "text": ""}
            if kind == "text"
            else {"type": "thinking", "thinking": "", "signature": ""},
            out,
        )
        self._open = kind
        self._head = _HEADS[kind.encode()] % index

    def _delta(self, delta: dict[str, Any], index: int | None = None) -> bytes:
        at = self._blocks - 1 if index is None else index
        return _frame(
            b"content_block_delta", {"type": "content_block_delta", "index": at, "delta": delta}
        )

    def _flush(self, out: list[bytes]) -> None:
        """Write the open block's pending text as one delta."""
        if not self._run:
            return
        text = self._run[0] if len(self._run) == 1 else "".join(self._run)
        self._run = []
        out.append(self._run_delta(text))

    def _run_delta(self, text: str) -> bytes:
        """The open text or thinking block's delta frame carrying ``text``."""
        return self._head + _dumps(text) + _TAIL

    def _close(self, out: list[bytes]) -> None:
        if self._open is None:
            return
        self._flush(out)
        stop = {"type": "content_block_stop", "index": self._blocks - 1}
        out.append(_frame(b"content_block_stop", stop))
        self._open = None


class AnthropicMessageDialect(FoldedBodyDialect, _Base):
    """``stream: false``: one ``message`` JSON body, folded by the transcript reducer."""

    def id_headers(self) -> Headers:
        return self._ids()

    def body(self, t: Transcript) -> bytes:
        return _dumps(self._body(t))

    def _body(self, t: Transcript) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if t.reasoning or t.reasoning_signature:
            thinking = {"type": "thinking", "thinking": t.reasoning}
            content.append({**thinking, "signature": t.reasoning_signature})
        content += [{"type": "redacted_thinking", "data": d} for d in t.reasoning_redacted]
        if t.text:
            content.append({"type": "text", "text": t.text})
        for call in t.tool_calls:
            content.append(
                {
                    "type": "tool_use",
                    "id": self._tool_id(call.index, call.id),
                    "name": call.name,
                    "input": tool_input(call.arguments),
                }
            )
        message = self._message(content, t.usage)
        message["stop_reason"] = anthropic_stop_reason(t.finish_reason, t.raw_finish_reason)
        return message


__all__ = [
    "STOP_REASONS",
    "AnthropicMessageDialect",
    "AnthropicStreamDialect",
    "anthropic_stop_reason",
    "anthropic_usage",
    "tool_input",
]
