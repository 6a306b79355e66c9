"""A non-streamed ``chat.completion`` body as events (servers that ignore ``stream: true``)."""

from __future__ import annotations

from typing import Any

from ...events import ChatEvent, Finish, ReasoningDelta, TextDelta, ToolCallDelta, UsageUpdate
from ._chunks import map_finish_reason, parse_usage


def completion_events(body: dict[str, Any]) -> list[ChatEvent]:
    choice = body["choices"][0]
    message = choice.get("message") or {}
    events: list[ChatEvent] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if reasoning:
        events.append(ReasoningDelta(reasoning))
    if message.get("content"):
        events.append(TextDelta(message["content"]))
    for index, call in enumerate(message.get("tool_calls") or ()):
        function = call.get("function") or {}
        events.append(
            ToolCallDelta(
                index=index,
                id=call.get("id") or "",
                name=function.get("name") or "",
                arguments=function.get("arguments") or "",
            )
        )
    usage = parse_usage(body["usage"]) if body.get("usage") else None
    if usage is not None:
        events.append(UsageUpdate(usage))
    raw = choice.get("finish_reason")
    events.append(Finish(reason=map_finish_reason(raw), raw_reason=raw, usage=usage))
    return events


__all__ = ["completion_events"]
