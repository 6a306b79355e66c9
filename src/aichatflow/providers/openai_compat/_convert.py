"""``ChatRequest`` to the JSON body of ``POST /chat/completions``."""

from __future__ import annotations

from typing import Any

from ...messages import ChatRequest, Message
from .profiles import Profile

# Fields the adapter controls itself; a caller's values for these are not passed through.
_MANAGED = frozenset({"stream", "stream_options", "model", "messages", "n"})


def convert_message(message: Message, profile: Profile) -> dict[str, Any]:
    data = message.model_dump(exclude_none=True)
    data.pop("reasoning_signature", None)  # other providers' reasoning proofs: not for these
    data.pop("reasoning_redacted", None)
    reasoning = data.pop("reasoning_content", None)
    if reasoning and profile.send_reasoning_back and message.tool_calls:
        data["reasoning_content"] = reasoning
    if message.role == "assistant" and "content" not in data:
        data["content"] = None if message.tool_calls else ""
    return data


def request_body(request: ChatRequest, profile: Profile) -> dict[str, Any]:
    body: dict[str, Any] = {
        key: value for key, value in request.extra.items() if key not in _MANAGED
    }
    body["model"] = request.model
    body["messages"] = [convert_message(m, profile) for m in request.messages]
    body["stream"] = True
    if profile.stream_usage:
        body["stream_options"] = {"include_usage": True}
    if request.tools:
        body["tools"] = [t.model_dump(exclude_none=True) for t in request.tools]
    if request.tool_choice is not None:
        body["tool_choice"] = request.tool_choice
    limit = request.token_limit
    if limit is not None:
        body[profile.max_tokens_field] = limit
    for name in ("temperature", "top_p", "stop", "seed", "user"):
        value = getattr(request, name)
        if value is not None:
            body[name] = value
    return body


__all__ = ["convert_message", "request_body"]
