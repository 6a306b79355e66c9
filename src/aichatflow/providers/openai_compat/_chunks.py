"""``chat.completion.chunk`` JSON to ``ChatEvent``s (docs/upstreams.md: OpenAI, DeepSeek).

Tool-call fragments are routed by ``id`` when present, then by upstream ``index``, then to the
call in progress: real servers reuse ``index: 0`` for every call (Ollama), omit ``index``, or put
two fragments of one call in one chunk (openai-python#3201). Each call gets a stable index of
our own, in order of appearance.

``Finish`` is emitted at ``[DONE]`` rather than at ``finish_reason`` because OpenAI sends usage in
a later chunk; a body that closes after ``finish_reason`` without ``[DONE]`` is still complete
(``end``), one whose connection is lost there is not: usage may have been on the way.

An ``{"error": ...}`` chunk (after a 200) is typed by its structured fields (``in_band_code``):
an ``invalid_api_key`` code or an auth type is ``upstream_auth`` and never retried, exactly as
a 401 would be, although OpenAI labels it ``type: invalid_request_error``.
"""

from __future__ import annotations

from typing import Any

from ...errors import (
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
    UsageUpdate,
)
from ...sse.decode import ServerSentEvent
from .._payload import json_object

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool-calls",
    "function_call": "tool-calls",
    "content_filter": "content-filter",
}


def map_finish_reason(raw: str | None) -> FinishReason:
    if raw is None:
        return "stop"
    return _FINISH.get(raw, "other")


def parse_usage(raw: dict[str, Any]) -> Usage:
    completion_details = raw.get("completion_tokens_details") or {}
    prompt_details = raw.get("prompt_tokens_details") or {}
    cached = prompt_details.get("cached_tokens") or raw.get("prompt_cache_hit_tokens") or 0
    return Usage(
        input_tokens=int(raw.get("prompt_tokens") or 0),
        output_tokens=int(raw.get("completion_tokens") or 0),
        reasoning_tokens=int(completion_details.get("reasoning_tokens") or 0),
        cached_input_tokens=int(cached),
    )


_KIND_CODE = {
    # The key or the account is refused: retrying cannot help, only an operator can.
    "invalid_api_key": "upstream_auth",  # OpenAI's code (its type is invalid_request_error)
    "authentication_error": "upstream_auth",  # Anthropic-style types relayed as they are
    "permission_error": "upstream_auth",
    "billing_error": "upstream_auth",
    "auth_error": "upstream_auth",  # LiteLLM's proxy
    "insufficient_quota": "upstream_auth",  # no credit left (type and code), not a rate limit
    "invalid_request_error": "bad_request",  # the request itself, after the specific code
    "server_error": "upstream_error",
    "overloaded_error": "upstream_overloaded",
    "rate_limit_error": "upstream_rate_limited",
    "rate_limit_exceeded": "upstream_rate_limited",
    "timeout": "upstream_timeout",
}


def _status(value: Any) -> int | None:
    """An HTTP status written as a number or, by relays such as LiteLLM, as a string."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def in_band_code(payload: dict[str, Any], err: dict[str, Any]) -> str:
    """The error code of an in-band error, from its structured fields, most specific first: a
    known ``code`` string (``invalid_api_key`` says more than its type ``invalid_request_error``),
    an HTTP status in ``code``, a known ``type``. Only a plain server error whose message starts
    with "overloaded" (all some servers say) is refined by its text."""
    code = _structured_code(payload, err)
    if code == "upstream_error" and str(err.get("message") or "").lower().startswith("overloaded"):
        return "upstream_overloaded"
    return code


def _structured_code(payload: dict[str, Any], err: dict[str, Any]) -> str:
    code, kind = err.get("code"), err.get("type")
    if isinstance(code, str) and code in _KIND_CODE:
        return _KIND_CODE[code]
    status = _status(code)
    if status is None:
        status = _status(payload.get("code"))
    by_status = upstream_status_code(status)
    if by_status is not None:
        return by_status
    if isinstance(kind, str) and kind in _KIND_CODE:
        return _KIND_CODE[kind]
    if "overload" in str(kind or code or ""):
        return "upstream_overloaded"
    return "upstream_error"


def in_band_error(payload: dict[str, Any], provider: str, secrets: tuple[str, ...]) -> Exception:
    """An ``{"error": ...}`` chunk (or vLLM's ``{"object": "error"}``) as a typed error."""
    err = payload.get("error", payload)
    if not isinstance(err, dict):
        err = {"message": str(err)}
    text = redacted_excerpt(str(err.get("message") or "upstream error"), secrets)
    return error_for_code(in_band_code(payload, err), f"{provider}: {text}", provider=provider)


class ChunkParser:
    """A ``Parser[ServerSentEvent]`` (``providers/_batches.py``); stateful: one per response."""

    __slots__ = (
        "_by_id",
        "_by_index",
        "_current",
        "_next",
        "finish_raw",
        "provider",
        "reasoning_fields",
        "secrets",
        "usage",
    )

    def __init__(
        self, provider: str, reasoning_fields: tuple[str, ...], secrets: tuple[str, ...] = ()
    ) -> None:
        self.provider = provider
        self.reasoning_fields = reasoning_fields
        self.secrets = secrets
        self._by_id: dict[str, int] = {}
        self._by_index: dict[int, int] = {}
        self._current = -1
        self._next = 0
        self.finish_raw: str | None = None
        self.usage: Usage | None = None

    def finish(self) -> Finish:
        reason = map_finish_reason(self.finish_raw)
        return Finish(reason=reason, raw_reason=self.finish_raw, usage=self.usage)

    def feed(self, event: ServerSentEvent, out: list[ChatEvent]) -> bool:
        """Parse one SSE event's ``data`` into ``out``; True at ``[DONE]``."""
        data = event.data
        if data == "[DONE]":
            out.append(self.finish())
            return True
        if not data or data[0] == ":":  # data-only keep-alives some relays send
            return False
        chunk = json_object(data, self.provider, "a frame")
        if "error" in chunk or chunk.get("object") == "error":
            raise in_band_error(chunk, self.provider, self.secrets)
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) == 0:
                self._choice(choice, out)
        usage = chunk.get("usage")
        if usage:
            self.usage = parse_usage(usage)
            out.append(UsageUpdate(self.usage))
        return False

    def end(self, lost: bool) -> list[ChatEvent]:
        """No ``[DONE]``: complete if ``finish_reason`` came and the body closed normally."""
        if self.finish_raw is None or lost:
            raise UpstreamDisconnected(
                f"{self.provider}: upstream closed the stream before it finished",
                provider=self.provider,
            )
        return [self.finish()]

    def _choice(self, choice: dict[str, Any], out: list[ChatEvent]) -> None:
        delta = choice.get("delta")
        if delta:
            for name in self.reasoning_fields:
                reasoning = delta.get(name)
                if reasoning and isinstance(reasoning, str):
                    out.append(ReasoningDelta(reasoning))
                    break
            content = delta.get("content")
            if content:
                out.append(TextDelta(content))
            calls = delta.get("tool_calls")
            if calls:
                for call in calls:
                    out.append(self._tool_call(call))
        finish = choice.get("finish_reason")
        if finish:
            self.finish_raw = finish

    def _tool_call(self, call: dict[str, Any]) -> ToolCallDelta:
        call_id = call.get("id") or ""
        upstream_index = call.get("index")
        if call_id and call_id in self._by_id:
            index = self._by_id[call_id]
            call_id = ""  # announced already
        elif call_id:
            index = self._by_id[call_id] = self._next
            self._next += 1
            if isinstance(upstream_index, int):
                self._by_index[upstream_index] = index
        elif isinstance(upstream_index, int) and upstream_index in self._by_index:
            index = self._by_index[upstream_index]
        elif self._current >= 0:
            index = self._current
        else:  # a fragment with neither id nor a known index: a new anonymous call
            index = self._next
            self._next += 1
            if isinstance(upstream_index, int):
                self._by_index[upstream_index] = index
        self._current = index
        function = call.get("function") or {}
        return ToolCallDelta(
            index=index,
            id=call_id,
            name=function.get("name") or "",
            arguments=function.get("arguments") or "",
        )


__all__ = ["ChunkParser", "in_band_error", "map_finish_reason", "parse_usage"]
