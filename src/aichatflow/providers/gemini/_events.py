"""Gemini ``GenerateContentResponse`` JSON to ``ChatEvent``s (docs/upstreams.md, Gemini).

Each SSE event (and each bare JSON object, see ``_decode.py``) is one whole response object:

* ``parts[].text`` is answer text, or reasoning when the part says ``"thought": true``;
* a part's ``thoughtSignature`` becomes ``ReasoningDelta(signature=...)``: after the thought text
  on a thought part, before the content on any other part (it closes the reasoning before it);
* a ``functionCall`` part is a whole call: one ``ToolCallDelta`` with its JSON-encoded ``args``
  (Gemini gives no id, so ``call_<n>`` is made up unless the part has one);
* ``usageMetadata`` is cumulative and repeated on every chunk: only the last one counts, and it
  is carried by ``Finish`` rather than an ``UsageUpdate`` per chunk, which would double the
  frames a client receives for no information;
* ``finishReason`` arrives on the final chunk; there is no terminator after it, so the parser
  only records it and emits ``Finish`` when the body ends (``end``), even when the connection
  is lost rather than closed there: that chunk was Gemini's last, and nothing is missing.

Errors come as ``{"error": {"code", "message", "status"}}``, in a ``data:`` line or bare; they are
mapped by gRPC ``status`` first, then by HTTP ``code`` (never by message text). A key Google
rejects is ``upstream_auth`` (never retried) whatever the status says: ``UNAUTHENTICATED``,
``PERMISSION_DENIED``, or ``INVALID_ARGUMENT`` with ``details[].reason`` ``API_KEY_INVALID``.
"""

from __future__ import annotations

from typing import Any

import orjson

from ...errors import (
    ProviderError,
    UpstreamBadResponse,
    UpstreamDisconnected,
    error_for_code,
    redacted_excerpt,
    upstream_status_code,
)
from ...events import (
    ChatEvent,
    Finish,
    FinishReason,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from ...sse.decode import ServerSentEvent
from .._payload import json_object

_FINISH: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content-filter",
    "RECITATION": "content-filter",
    "BLOCKLIST": "content-filter",
    "PROHIBITED_CONTENT": "content-filter",
    "SPII": "content-filter",
    "IMAGE_SAFETY": "content-filter",
    "IMAGE_PROHIBITED_CONTENT": "content-filter",
    "IMAGE_RECITATION": "content-filter",
    "MALFORMED_FUNCTION_CALL": "error",
    "UNEXPECTED_TOOL_CALL": "error",
    "TOO_MANY_TOOL_CALLS": "error",
}


def map_finish_reason(raw: str, *, called_tools: bool = False) -> FinishReason:
    """Gemini's ``finishReason`` in the closed set; ``STOP`` after a function call is
    ``tool-calls`` (Gemini has no reason of its own for it)."""
    reason = _FINISH.get(raw, "other")
    if reason == "stop" and called_tools:
        return "tool-calls"
    return reason


def parse_usage(raw: dict[str, Any]) -> Usage:
    """``usageMetadata``: thoughts are output tokens that ``candidatesTokenCount`` leaves out."""
    thoughts = int(raw.get("thoughtsTokenCount") or 0)
    return Usage(
        input_tokens=int(raw.get("promptTokenCount") or 0),
        output_tokens=int(raw.get("candidatesTokenCount") or 0) + thoughts,
        reasoning_tokens=thoughts,
        cached_input_tokens=int(raw.get("cachedContentTokenCount") or 0),
    )


_STATUS_CODE = {
    "UNAVAILABLE": "upstream_overloaded",
    "RESOURCE_EXHAUSTED": "upstream_rate_limited",
    "PERMISSION_DENIED": "upstream_auth",
    "UNAUTHENTICATED": "upstream_auth",
    "INVALID_ARGUMENT": "bad_request",
    "FAILED_PRECONDITION": "bad_request",
    "NOT_FOUND": "bad_request",
    "DEADLINE_EXCEEDED": "upstream_timeout",
}


_KEY_REJECTED = frozenset(("API_KEY_INVALID", "API_KEY_EXPIRED"))
"""``ErrorInfo.reason`` values with which Google rejects the key itself, under the status
``INVALID_ARGUMENT`` (HTTP 400) that otherwise means a bad request."""


def key_rejected(err: Any) -> bool:
    """Whether an ``error`` object says the API key was rejected (in ``details[].reason``)."""
    details = err.get("details") if isinstance(err, dict) else None
    if not isinstance(details, list):
        return False
    return any(isinstance(d, dict) and d.get("reason") in _KEY_REJECTED for d in details)


def gemini_error(payload: dict[str, Any], provider: str, secrets: tuple[str, ...]) -> ProviderError:
    """An in-band ``{"error": {...}}`` object as a typed error."""
    err = payload.get("error")
    if not isinstance(err, dict):
        err = {"message": str(err)}
    code = "upstream_auth" if key_rejected(err) else _STATUS_CODE.get(str(err.get("status") or ""))
    status = err.get("code")
    if code is None and isinstance(status, str) and status.isdigit():
        status = int(status)  # relays such as LiteLLM write the HTTP code as a string
    if code is None and isinstance(status, int):
        code = upstream_status_code(status)
    message = redacted_excerpt(str(err.get("message") or "upstream error"), secrets)
    return error_for_code(code or "upstream_error", f"{provider}: {message}", provider=provider)


class ResponseParser:
    """A ``Parser[ServerSentEvent]`` (``providers/_batches.py``); stateful: one per response.
    ``feed`` never ends the stream: only the end of the body does."""

    __slots__ = ("_calls", "finish_raw", "finish_reason", "provider", "secrets", "usage")

    def __init__(self, provider: str, secrets: tuple[str, ...] = ()) -> None:
        self.provider = provider
        self.secrets = secrets
        self._calls = 0
        self.finish_raw: str | None = None
        """The last ``finishReason`` (or ``promptFeedback.blockReason``): None until the
        answer is complete."""
        self.finish_reason: FinishReason | None = None
        self.usage: Usage | None = None

    def finish(self) -> Finish:
        reason = self.finish_reason or map_finish_reason(
            self.finish_raw or "", called_tools=self._calls > 0
        )
        return Finish(reason=reason, raw_reason=self.finish_raw, usage=self.usage)

    def feed(self, event: ServerSentEvent, out: list[ChatEvent]) -> bool:
        """Parse one whole ``GenerateContentResponse`` (or error), from a ``data:`` field or
        bare (``_decode.py``), into ``out``."""
        response = json_object(event.data, self.provider, "a frame")
        if "error" in response:
            raise gemini_error(response, self.provider, self.secrets)
        try:
            self._response(response, out)
        except (AttributeError, TypeError, ValueError):  # a list where an object belongs...
            raise UpstreamBadResponse(
                f"{self.provider}: upstream sent a response of an unexpected shape",
                provider=self.provider,
            ) from None
        return False

    def end(self, lost: bool) -> list[ChatEvent]:
        """Complete once a ``finishReason`` (or a blocked prompt) has come, however the body
        ended; cut short otherwise."""
        if self.finish_raw is None:
            raise UpstreamDisconnected(
                f"{self.provider}: upstream ended the stream before it finished",
                provider=self.provider,
            )
        return [self.finish()]

    def _response(self, response: dict[str, Any], out: list[ChatEvent]) -> None:
        usage = response.get("usageMetadata")
        if usage:
            self.usage = parse_usage(usage)
        candidates = response.get("candidates")
        if candidates:
            for candidate in candidates:
                if candidate.get("index", 0) == 0:
                    self._candidate(candidate, out)
                    break
            return
        blocked = (response.get("promptFeedback") or {}).get("blockReason")
        if blocked:  # the prompt itself was refused: no candidate will ever come
            self.finish_raw = str(blocked)
            self.finish_reason = "content-filter"

    def _candidate(self, candidate: dict[str, Any], out: list[ChatEvent]) -> None:
        for part in (candidate.get("content") or {}).get("parts") or ():
            self._part(part, out)
        finish = candidate.get("finishReason")
        if finish:
            self.finish_raw = str(finish)

    def _part(self, part: dict[str, Any], out: list[ChatEvent]) -> None:
        signature = part.get("thoughtSignature") or ""
        text = part.get("text")
        if part.get("thought"):
            if text or signature:
                out.append(ReasoningDelta(text or "", signature=signature))
            return
        if signature:
            out.append(ReasoningDelta("", signature=signature))
        if text:
            out.append(TextDelta(text))
        call = part.get("functionCall")
        if call:
            index = self._calls
            self._calls += 1
            out.append(
                ToolCallDelta(
                    index=index,
                    id=str(call.get("id") or f"call_{index}"),
                    name=str(call.get("name") or ""),
                    arguments=orjson.dumps(call.get("args") or {}).decode(),
                )
            )


__all__ = ["ResponseParser", "gemini_error", "key_rejected", "map_finish_reason", "parse_usage"]
