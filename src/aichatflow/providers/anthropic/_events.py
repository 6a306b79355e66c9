"""Anthropic's named stream events to ``ChatEvent``s (docs/upstreams.md, Anthropic).

Per content block: ``text_delta`` → ``TextDelta``; ``thinking_delta`` → ``ReasoningDelta``;
``signature_delta`` and a whole ``redacted_thinking`` block → a ``ReasoningDelta`` with empty
text carrying the proof to send back; a ``tool_use`` block's ``input_json_delta`` fragments are
buffered and emitted as one ``ToolCallDelta`` at ``content_block_stop`` (the arguments are only
known to be complete there; ``"{}"`` when the model sent none).

Usage: input and cache tokens come in ``message_start``; ``message_delta.usage.output_tokens``
is *cumulative*, so each one replaces the last. Anthropic's ``input_tokens`` excludes cached
tokens, while ``Usage.input_tokens`` (like OpenAI's ``prompt_tokens``) includes them, so cache
reads and writes are added in and cache reads are also reported as ``cached_input_tokens``.

``ping`` and event types this parser does not know are ignored ("new event types may be added",
says Anthropic); ``event: error`` raises the typed error of its ``error.type``: an
``authentication_error``, ``permission_error`` or ``billing_error`` is ``upstream_auth``, never
retried, like the 401/403 it stands for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from ...errors import UpstreamBadResponse, UpstreamDisconnected, error_for_code, redacted_excerpt
from ...events import (
    ChatEvent,
    Finish,
    FinishReason,
    ReasoningDelta,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    Usage,
    UsageUpdate,
)
from ...sse.decode import ServerSentEvent
from .._payload import json_object

_FINISH: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool-calls",
    "refusal": "content-filter",
    "pause_turn": "other",
}

_ERROR_CODE = {
    "overloaded_error": "upstream_overloaded",
    "rate_limit_error": "upstream_rate_limited",
    "api_error": "upstream_error",
    "authentication_error": "upstream_auth",
    "permission_error": "upstream_auth",
    "billing_error": "upstream_auth",
    "invalid_request_error": "bad_request",
    "not_found_error": "bad_request",
    "request_too_large": "bad_request",
    "timeout_error": "upstream_timeout",
}


def map_finish_reason(raw: str | None) -> FinishReason:
    if raw is None:
        return "stop"
    return _FINISH.get(raw, "other")


def stream_error(payload: dict[str, Any], provider: str, secrets: tuple[str, ...]) -> Exception:
    """An ``event: error`` payload (``{"type": "error", "error": {type, message}}``), typed."""
    err = payload.get("error")
    if not isinstance(err, dict):
        err = payload  # a relay's flat ``{"type": "authentication_error", "message": ...}``
    code = _ERROR_CODE.get(str(err.get("type") or ""), "upstream_error")
    message = redacted_excerpt(str(err.get("message") or "upstream error"), secrets)
    return error_for_code(code, f"{provider}: {message}", provider=provider)


@dataclass(slots=True)
class _ToolUse:
    index: int
    id: str
    name: str
    whole: str = ""
    """The ``input`` of ``content_block_start`` when a relay sends it whole (Anthropic sends
    ``{}`` there and streams the input as ``input_json_delta`` fragments)."""
    parts: list[str] = field(default_factory=list)


class EventParser:
    """A ``Parser[ServerSentEvent]`` (``providers/_batches.py``); stateful: one per response.
    ``feed`` returns True at ``message_stop``, and nothing else completes a stream."""

    __slots__ = (
        "_input",
        "_next_tool",
        "_output",
        "_tools",
        "model",
        "provider",
        "secrets",
        "started",
        "stop_reason",
    )

    def __init__(self, provider: str, model: str, secrets: tuple[str, ...] = ()) -> None:
        self.provider = provider
        self.model = model
        """``provider/model`` as the caller named it, for ``StreamStart``."""
        self.secrets = secrets
        self.started = False
        self.stop_reason: str | None = None
        self._input = (0, 0, 0)  # input_tokens, cache_creation_input_tokens, cache_read
        self._output = 0
        self._tools: dict[int, _ToolUse] = {}  # by Anthropic block index, while open
        self._next_tool = 0

    @property
    def usage(self) -> Usage:
        fresh, written, read = self._input
        return Usage(
            input_tokens=fresh + written + read,
            output_tokens=self._output,
            cached_input_tokens=read,
        )

    def finish(self) -> Finish:
        reason = map_finish_reason(self.stop_reason)
        return Finish(reason=reason, raw_reason=self.stop_reason, usage=self.usage)

    def feed(self, event: ServerSentEvent, out: list[ChatEvent]) -> bool:
        """Parse one SSE event (its ``event:`` field names it) into ``out``."""
        name = event.event
        if name == "ping":
            return False
        payload = json_object(event.data, self.provider, "an event")
        return self.handle(payload, out, name)

    def end(self, lost: bool) -> list[ChatEvent]:
        """The body ended before ``message_stop``: however much came, the answer is cut."""
        raise UpstreamDisconnected(
            f"{self.provider}: upstream closed the stream before message_stop",
            provider=self.provider,
        )

    def handle(self, payload: dict[str, Any], out: list[ChatEvent], name: str = "") -> bool:
        """Handle one decoded event; its JSON ``type`` wins over the SSE event name."""
        try:
            return self._dispatch(payload, out, name)
        except (AttributeError, TypeError, ValueError):  # a field of the wrong JSON type
            raise UpstreamBadResponse(
                f"{self.provider}: upstream sent an event of an unexpected shape",
                provider=self.provider,
            ) from None

    def _dispatch(self, payload: dict[str, Any], out: list[ChatEvent], name: str) -> bool:
        kind = payload.get("type") or name
        if kind == "error" or name == "error":  # a relay may put the error's own type there
            raise stream_error(payload, self.provider, self.secrets)
        if kind == "ping":
            return False
        if not self.started:  # message_start first, as Anthropic promises; be lenient anyway
            self.started = True
            message = payload.get("message") if kind == "message_start" else None
            response_id = message.get("id") if isinstance(message, dict) else None
            out.append(StreamStart(model=self.model, response_id=str(response_id or "")))
        if kind == "message_start":
            self._usage((payload.get("message") or {}).get("usage"))
        elif kind == "content_block_start":
            self._block_start(payload, out)
        elif kind == "content_block_delta":
            self._block_delta(payload, out)
        elif kind == "content_block_stop":
            tool = self._tools.pop(payload.get("index", -1), None)
            if tool is not None:
                arguments = "".join(tool.parts) or tool.whole or "{}"
                out.append(
                    ToolCallDelta(index=tool.index, id=tool.id, name=tool.name, arguments=arguments)
                )
        elif kind == "message_delta":
            self.stop_reason = (payload.get("delta") or {}).get("stop_reason") or self.stop_reason
            if payload.get("usage"):
                self._usage(payload["usage"])
                out.append(UsageUpdate(self.usage))
        elif kind == "message_stop":
            out.append(self.finish())
            return True
        return False

    def _usage(self, raw: Any) -> None:
        """Take the counts ``raw`` has; each is a running total that replaces the last one."""
        if not isinstance(raw, dict):
            return
        fresh, written, read = self._input
        fresh = int(raw.get("input_tokens") or fresh)
        written = int(raw.get("cache_creation_input_tokens") or written)
        read = int(raw.get("cache_read_input_tokens") or read)
        self._input = (fresh, written, read)
        self._output = int(raw.get("output_tokens") or self._output)

    def _block_start(self, payload: dict[str, Any], out: list[ChatEvent]) -> None:
        block = payload.get("content_block") or {}
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            out.append(TextDelta(block["text"]))
        elif kind == "thinking" and (block.get("thinking") or block.get("signature")):
            out.append(ReasoningDelta(block.get("thinking") or "", block.get("signature") or ""))
        elif kind == "redacted_thinking":
            out.append(ReasoningDelta("", redacted=str(block.get("data") or "")))
        elif kind == "tool_use":
            index, self._next_tool = self._next_tool, self._next_tool + 1
            tool = _ToolUse(index, str(block.get("id") or ""), str(block.get("name") or ""))
            if block.get("input"):
                tool.whole = orjson.dumps(block["input"]).decode()
            self._tools[payload.get("index", -1)] = tool

    def _block_delta(self, payload: dict[str, Any], out: list[ChatEvent]) -> None:
        delta = payload.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta":
            if delta.get("text"):
                out.append(TextDelta(delta["text"]))
        elif kind == "thinking_delta":
            if delta.get("thinking"):
                out.append(ReasoningDelta(delta["thinking"]))
        elif kind == "signature_delta":
            if delta.get("signature"):
                out.append(ReasoningDelta("", signature=delta["signature"]))
        elif kind == "input_json_delta":
            tool = self._tools.get(payload.get("index", -1))
            if tool is not None and delta.get("partial_json"):
                tool.parts.append(delta["partial_json"])


__all__ = ["EventParser", "map_finish_reason", "stream_error"]
