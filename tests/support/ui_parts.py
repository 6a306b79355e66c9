"""The UI message stream's parts as the AI SDK's schemas allow them, per major: the fields
each part type requires and may carry (from the SDK's ``ui-message-chunks.ts``), and a parser
of a whole response body that checks every frame against them. Shared by the dialect's unit
tests and the route's end-to-end tests."""

from __future__ import annotations

from typing import Any

import orjson

COMMON = {
    "start": ({"type"}, {"messageId", "messageMetadata"}),
    "text-start": ({"type", "id"}, {"providerMetadata"}),
    "text-delta": ({"type", "id", "delta"}, {"providerMetadata"}),
    "text-end": ({"type", "id"}, {"providerMetadata"}),
    "reasoning-start": ({"type", "id"}, {"providerMetadata"}),
    "reasoning-delta": ({"type", "id", "delta"}, {"providerMetadata"}),
    "reasoning-end": ({"type", "id"}, {"providerMetadata"}),
    "tool-input-start": ({"type", "toolCallId", "toolName"}, {"providerExecuted", "dynamic"}),
    "tool-input-delta": ({"type", "toolCallId", "inputTextDelta"}, set()),
    "tool-input-available": (
        {"type", "toolCallId", "toolName", "input"},
        {"providerExecuted", "providerMetadata", "dynamic"},
    ),
    "start-step": ({"type"}, set()),
    "finish-step": ({"type"}, set()),
    "error": ({"type", "errorText"}, set()),
    "finish": ({"type"}, {"messageMetadata"}),
    "abort": ({"type"}, set()),
}
"""ai@5.0.0's parts and fields (strict objects), as far as aichatflow uses them
(``ui-message-chunks.ts``); ai@6 adds ``tool-input-error``, ``finishReason`` and ``reason``."""
SCHEMAS: dict[int, dict[str, tuple[set[str], set[str]]]] = {
    5: COMMON,
    6: {
        **COMMON,
        "tool-input-error": (
            {"type", "toolCallId", "toolName", "input", "errorText"},
            {"providerExecuted", "providerMetadata", "dynamic", "title"},
        ),
        "finish": ({"type"}, {"finishReason", "messageMetadata"}),
        "abort": ({"type"}, {"reason"}),
    },
}
FINISH_REASONS = {"stop", "length", "content-filter", "tool-calls", "error", "other"}


def parts(body: bytes, major: int) -> list[dict[str, Any]]:
    """The parts of a whole response body, each checked against ``major``'s schema; the body
    must be nothing but ``data:`` frames and end with ``[DONE]``."""
    assert body.endswith(b"data: [DONE]\n\n"), body[-200:]
    frames = body[: -len(b"data: [DONE]\n\n")].split(b"\n\n")
    assert frames.pop() == b""
    out = []
    for frame in frames:
        assert frame.startswith(b"data: ") and b"\n" not in frame and b"\r" not in frame, frame
        part = orjson.loads(frame[len(b"data: ") :])
        required, optional = SCHEMAS[major][part["type"]]
        assert required <= part.keys() <= required | optional, part
        if part["type"] == "finish" and "finishReason" in part:
            assert part["finishReason"] in FINISH_REASONS
        out.append(part)
    return out
