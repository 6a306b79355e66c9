"""The OpenAI Chat Completions dialect: ``chat.completion.chunk`` SSE and the non-stream body.

Streaming follows OpenAI's chunk shapes where they matter to clients: a first chunk with
``role`` (and ``content: null``), content chunks, a finishing chunk, an optional usage chunk
with ``choices: []``, then ``data: [DONE]``. Reasoning goes in ``delta.reasoning_content``
(DeepSeek, vLLM and LiteLLM use that field; the official SDK keeps unknown fields). A failure
after the headers is ``data: {"error": {...}}`` and *no* ``[DONE]``, which makes the official
SDK raise ``APIError``.

Headers wait for the first batch (``headers_on_open = False``): an upstream that fails before
answering becomes a real HTTP status (429, 502, 504) with ``x-should-retry: false``, because
aichatflow already did the retrying (one retry layer).

Errors, on both sides of the headers and for every path under ``/v1`` (``server/errors.py``),
take OpenAI's shape, ``{"error": {"message", "type", "code", "param"}}``, with ``type`` and
``code`` the aichatflow code and ``message`` worded exactly as the native protocol words it.
"""

from __future__ import annotations

import time
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
from .base import SSE_HEADERS, ChatEventDialect, FoldedBodyDialect, Headers
from .error_shape import ErrorShape

_dumps = orjson.dumps

_FINISH: dict[FinishReason, str] = {
    "stop": "stop",
    "length": "length",
    "tool-calls": "tool_calls",
    "content-filter": "content_filter",
}


def openai_finish_reason(reason: FinishReason | None) -> str:
    return _FINISH.get(reason, "stop") if reason else "stop"


def openai_usage(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_input_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


class OpenAIErrorShape(ErrorShape):
    """OpenAI's error object; ``x-should-retry: false`` on every error response, because
    aichatflow has already retried the upstream (the SDK would retry twice more on top)."""

    name = "openai"
    headers = ((b"x-should-retry", b"false"),)

    def fields(self, error: StreamError, request_id: str) -> dict[str, Any]:
        return {"message": error.message, "type": error.code, "code": error.code, "param": None}


OPENAI_ERRORS = OpenAIErrorShape()


class _Base(ChatEventDialect):
    headers_on_open = False
    error_shape = OPENAI_ERRORS

    def __init__(self, stream_id: str, model: str) -> None:
        super().__init__(stream_id)
        self.model = model
        self.completion_id = f"chatcmpl-{stream_id}"
        self.created = int(time.time())


class OpenAIStreamDialect(_Base):
    """``stream: true``: chunks as they come."""

    buffered = False

    def __init__(self, stream_id: str, model: str, *, include_usage: bool = False) -> None:
        super().__init__(stream_id, model)
        self.include_usage = include_usage
        head = {
            "id": self.completion_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": model,
        }
        # Everything before the delta is fixed per stream: encode it once.
        self._prefix = b"data: " + _dumps(head)[:-1] + b',"choices":[{"index":0,"delta":'
        self._open_suffix = b',"logprobs":null,"finish_reason":null}]}\n\n'

    def headers(self) -> Headers:
        return [*SSE_HEADERS, (b"x-request-id", self.request_id.encode()), *self.extra_headers]

    def open(self) -> bytes:
        """The role chunk, sent before we know whether text or tool calls follow: so its
        content is ``null`` (OpenAI's first chunk of a tool-call answer), not ``""`` (of a text
        answer). With ``""`` an SDK accumulator (``client.chat.completions.stream()``) ends a
        tool-calls-only answer with ``content == ""`` where the non-stream body says ``null``."""
        return self._chunk(b'{"role":"assistant","content":null}')

    def _chunk(self, delta: bytes) -> bytes:
        return self._prefix + delta + self._open_suffix

    def render(self, batch: list[ChatEvent]) -> bytes:
        if self.terminal:
            return b""
        self.content = False
        out: list[bytes] = []
        run: list[str] = []  # consecutive deltas of one kind become one chunk, as in native
        run_cls: type | None = None
        for event in batch:
            cls = event.__class__
            if cls is TextDelta or cls is ReasoningDelta:
                self.content = True
                if cls is not run_cls and run:
                    out.append(self._delta_chunk(run_cls, run))
                    run = []
                run_cls = cls
                run.append(event.text)  # type: ignore[union-attr]
                continue
            if run:
                out.append(self._delta_chunk(run_cls, run))
                run = []
                run_cls = None
            if self._other(event, out):
                break
        if run:
            out.append(self._delta_chunk(run_cls, run))
        return b"".join(out)

    def _delta_chunk(self, cls: type | None, texts: list[str]) -> bytes:
        """One chunk for a run of deltas: a lagging client gets the same text in fewer chunks,
        and the first content of a burst is not held back behind hundreds of tiny chunks."""
        key = b'{"content":' if cls is TextDelta else b'{"reasoning_content":'
        text = texts[0] if len(texts) == 1 else "".join(texts)
        return self._chunk(key + _dumps(text) + b"}")

    def _other(self, event: ChatEvent, out: list[bytes]) -> bool:
        if isinstance(event, ToolCallDelta):
            self.content = True
            call: dict[str, Any] = {"index": event.index}
            function: dict[str, str] = {"arguments": event.arguments}
            if event.id:
                call["id"] = event.id
                call["type"] = "function"
            if event.name:
                function["name"] = event.name
            call["function"] = function
            out.append(self._chunk(_dumps({"tool_calls": [call]})))
        elif isinstance(event, UsageUpdate):
            self.usage = event.usage
        elif isinstance(event, Finish):
            reason = _dumps(openai_finish_reason(event.reason))
            out.append(self._prefix + b'{},"logprobs":null,"finish_reason":' + reason + b"}]}\n\n")
            usage = self.usage = event.usage or self.usage
            if self.include_usage and usage is not None:
                head = self._prefix[: self._prefix.index(b',"choices"')]
                out.append(
                    head + b',"choices":[],"usage":' + _dumps(openai_usage(usage)) + b"}\n\n"
                )
            out.append(b"data: [DONE]\n\n")
            self.terminal = True
        elif isinstance(event, StreamError):
            out.append(b"data: " + self.error_shape.body(event, self.request_id) + b"\n\n")
            self.terminal = True
        elif isinstance(event, StreamStart):
            self.answered_by = event.model
        else:
            raise TypeError(f"not a ChatEvent: {event!r}")
        return self.terminal


class OpenAICompletionDialect(FoldedBodyDialect, _Base):
    """``stream: false``: one ``chat.completion`` JSON body, folded by the transcript reducer."""

    def body(self, t: Transcript) -> bytes:
        message: dict[str, Any] = {"role": "assistant", "content": t.text or None}
        if t.reasoning:
            message["reasoning_content"] = t.reasoning
        if t.tool_calls:
            message["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for c in t.tool_calls
            ]
        elif message["content"] is None:
            message["content"] = ""
        body: dict[str, Any] = {
            "id": self.completion_id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": openai_finish_reason(t.finish_reason),
                }
            ],
        }
        if t.usage is not None:
            body["usage"] = openai_usage(t.usage)
        return _dumps(body)


__all__ = [
    "OPENAI_ERRORS",
    "OpenAICompletionDialect",
    "OpenAIErrorShape",
    "OpenAIStreamDialect",
    "openai_finish_reason",
    "openai_usage",
]
