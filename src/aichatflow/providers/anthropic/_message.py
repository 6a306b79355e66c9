"""A non-streamed ``message`` body as events (relays that ignore ``"stream": true``).

LiteLLM's proxy, for one, answers ``/v1/messages`` with one JSON message when the model is a
``mock_response`` (docs/testing.md, LiteLLM). The message is replayed through the same
``EventParser`` as the events it would have been streamed as, so the mapping of blocks, usage
and stop reasons exists once.
"""

from __future__ import annotations

from typing import Any

from ...errors import UpstreamBadResponse
from ...events import ChatEvent
from ._events import EventParser, stream_error


def message_events(body: Any, parser: EventParser) -> list[ChatEvent]:
    if not isinstance(body, dict):
        raise UpstreamBadResponse(
            f"{parser.provider}: upstream sent neither an event stream nor a message",
            provider=parser.provider,
        )
    if body.get("type") == "error":
        raise stream_error(body, parser.provider, parser.secrets)
    content = body.get("content")
    if body.get("type") != "message" or not isinstance(content, list):
        raise UpstreamBadResponse(
            f"{parser.provider}: upstream sent neither an event stream nor a message",
            provider=parser.provider,
        )
    out: list[ChatEvent] = []
    handle = parser.handle
    handle({"type": "message_start", "message": {**body, "content": []}}, out)
    for index, block in enumerate(content):
        handle({"type": "content_block_start", "index": index, "content_block": block}, out)
        handle({"type": "content_block_stop", "index": index}, out)
    delta = {"stop_reason": body.get("stop_reason")}
    handle({"type": "message_delta", "delta": delta, "usage": body.get("usage")}, out)
    handle({"type": "message_stop"}, out)
    return out


__all__ = ["message_events"]
