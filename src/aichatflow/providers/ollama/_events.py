"""Ollama ``/api/chat`` NDJSON lines to ``ChatEvent``s (docs/upstreams.md, Ollama).

One line is one JSON object. What each field becomes:

* ``message.thinking`` → ``ReasoningDelta``; ``message.content`` → ``TextDelta``;
* ``message.tool_calls`` arrive *whole*, with ``arguments`` as an object: each becomes one
  ``ToolCallDelta`` with the next index of our own, the upstream's ``id`` when it sends one
  (newer Ollama does) or ``call_<index>``, and ``arguments`` as compact JSON text;
* ``"done": true`` → ``UsageUpdate`` (``prompt_eval_count`` in, ``eval_count`` out) and
  ``Finish``, with ``done_reason`` mapped and kept raw. Ollama says ``stop`` after a turn that
  called tools, so ``stop`` becomes ``tool-calls`` when this stream emitted any.

The trap: an error line is ``{"error": "..."}`` with **no** ``done`` field, so a parser that
waits for ``done`` hangs until the read timeout. It is raised at once here. That line has no
code or type, only text, so ``in_band_error`` is the one place that looks at a message: the two
phrases Ollama uses for a caller's mistake (``model 'x' not found``, ``... does not support
tools``) make it a non-retryable ``UpstreamBadRequest``; anything else is a ``ProviderError``.
"""

from __future__ import annotations

from typing import Any

import orjson

from ...errors import (
    ProviderError,
    UpstreamBadRequest,
    UpstreamBadResponse,
    UpstreamDisconnected,
    redacted_excerpt,
)
from ...events import (
    ChatEvent,
    Finish,
    FinishReason,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    Usage,
    UsageUpdate,
)
from .._payload import json_object

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "load": "other",  # an empty-messages request that only loaded the model
    "unload": "other",  # keep_alive 0: the model was unloaded
}
_CALLER_ERRORS = ("not found", "does not support")


def map_finish_reason(raw: str | None, called_tools: bool) -> FinishReason:
    """``done_reason`` to a ``FinishReason``; old servers send no ``done_reason`` at all."""
    reason = _FINISH.get(raw, "other") if raw is not None else "stop"
    return "tool-calls" if reason == "stop" and called_tools else reason


def in_band_error(error: Any, provider: str, secrets: tuple[str, ...] = ()) -> ProviderError:
    """An ``{"error": ...}`` line as a typed error (see the module docstring)."""
    if isinstance(error, dict):
        error = error.get("message") or error
    text = redacted_excerpt(str(error) or "upstream error", secrets)
    lowered = text.lower()
    cls = UpstreamBadRequest if any(p in lowered for p in _CALLER_ERRORS) else ProviderError
    return cls(f"{provider}: {text}", provider=provider)


class LineParser:
    """A ``Parser[bytes]`` (``providers/_batches.py``); stateful: one per response."""

    __slots__ = ("calls", "provider", "secrets")

    def __init__(self, provider: str, secrets: tuple[str, ...] = ()) -> None:
        self.provider = provider
        self.secrets = secrets
        self.calls = 0
        """Tool calls emitted so far: the next call's index."""

    def _bad(self, what: str) -> UpstreamBadResponse:
        return UpstreamBadResponse(f"{self.provider}: upstream sent {what}", provider=self.provider)

    def feed(self, line: bytes, out: list[ChatEvent]) -> bool:
        """Parse one line into ``out``; True at the ``done`` line (the stream is complete)."""
        obj = json_object(line, self.provider, "a line")
        if "error" in obj:
            raise in_band_error(obj["error"], self.provider, self.secrets)
        message = obj.get("message")
        if message:
            if not isinstance(message, dict):
                raise self._bad("a message that is not an object")
            self._message(message, out)
        if obj.get("done") is not True:
            return False
        usage = None
        if "prompt_eval_count" in obj or "eval_count" in obj:
            usage = Usage(
                input_tokens=int(obj.get("prompt_eval_count") or 0),
                output_tokens=int(obj.get("eval_count") or 0),
            )
            out.append(UsageUpdate(usage))
        raw = obj.get("done_reason")
        raw = raw if isinstance(raw, str) else None
        reason = map_finish_reason(raw, self.calls > 0)
        out.append(Finish(reason=reason, raw_reason=raw, usage=usage))
        return True

    def end(self, lost: bool) -> list[ChatEvent]:
        """Only a ``done`` line completes a stream (a line cut in the middle is reported by
        the decoder before this is asked)."""
        raise UpstreamDisconnected(
            f"{self.provider}: upstream closed the stream before the done line",
            provider=self.provider,
        )

    def _message(self, message: dict[str, Any], out: list[ChatEvent]) -> None:
        thinking = message.get("thinking")
        if thinking and isinstance(thinking, str):
            out.append(ReasoningDelta(thinking))
        content = message.get("content")
        if content and isinstance(content, str):
            out.append(TextDelta(content))
        for call in message.get("tool_calls") or ():
            out.append(self._tool_call(call))

    def _tool_call(self, call: Any) -> ToolCallDelta:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            raise self._bad("a tool call without a function")
        arguments = function.get("arguments")
        if not isinstance(arguments, str):  # an object, as Ollama sends it; a string passes as is
            arguments = orjson.dumps({} if arguments is None else arguments).decode()
        index, self.calls = self.calls, self.calls + 1
        return ToolCallDelta(
            index=index,
            id=str(call.get("id") or f"call_{index}"),
            name=str(function.get("name") or ""),
            arguments=arguments,
        )


__all__ = ["LineParser", "in_band_error", "map_finish_reason"]
