"""Anthropic Messages request bodies to ``ChatRequest``: what each field becomes, and the
bodies refused with a located 422."""

from __future__ import annotations

from typing import Any

import pytest

from aichatflow.dialects.anthropic_request import parse_messages_request
from aichatflow.errors import ValidationFailed


def _body(**kw: Any) -> dict[str, Any]:
    return {"model": "p/m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}], **kw}


def test_system_blocks_thinking_and_tool_choice() -> None:
    assistant = {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "redacted_thinking", "data": "ENC"},
            {"type": "text", "text": "calling"},
            {"type": "tool_use", "id": "t1", "name": "f", "input": {}},
        ],
    }
    result = {
        "type": "tool_result",
        "tool_use_id": "t1",
        "content": [{"type": "text", "text": "ok"}],
    }
    image = {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}
    chat = parse_messages_request(
        _body(
            system=[{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            messages=[
                {"role": "user", "content": "hi"},
                assistant,
                {"role": "user", "content": [image, result]},
            ],
            tools=[{"name": "f", "input_schema": {"type": "object"}}],
            tool_choice={"type": "any", "disable_parallel_tool_use": True},
            stream=True,
            temperature=0.5,
            thinking={"type": "enabled", "budget_tokens": 5},
            top_k=3,
        )
    )
    roles = [m.role for m in chat.messages]
    assert roles == ["system", "user", "assistant", "tool", "user"]
    assert chat.messages[0].content == "a\n\nb"
    a = chat.messages[2]
    assert (a.reasoning_content, a.reasoning_signature, a.reasoning_redacted) == (
        "hmm",
        "sig",
        ["ENC"],
    )
    assert a.content == "calling" and a.tool_calls and a.tool_calls[0].function.arguments == "{}"
    assert chat.messages[3].tool_call_id == "t1" and chat.messages[3].content == "ok"
    part = chat.messages[4].content[0]  # type: ignore[index]
    assert part.type == "image_url" and part.model_extra == {
        "image_url": {"url": "https://x/y.png"}
    }
    assert chat.tool_choice == "required" and chat.temperature == 0.5 and chat.max_tokens == 10
    assert chat.extra == {"stream": True, "parallel_tool_calls": False}  # thinking, top_k: not sent


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"model": "p/m", "messages": [{"role": "user", "content": "hi"}]}, ("max_tokens",)),
        (_body(messages=[]), ("messages",)),
        (_body(messages=[{"role": "system", "content": "x"}]), ("messages", 0, "role")),
        (_body(temperature=1.5), ("temperature",)),
        (_body(tool_choice={"type": "tool"}), ("tool_choice", "name")),
        (
            _body(messages=[{"role": "user", "content": [{"type": "image", "source": {}}]}]),
            ("messages", 0, "content", "source"),
        ),
        (
            _body(messages=[{"role": "user", "content": [{"type": "tool_result"}]}]),
            ("messages", 0, "content"),
        ),
        (
            _body(messages=[{"role": "assistant", "content": [{"type": "server_tool_use"}]}]),
            ("messages", 0, "content"),
        ),
    ],
)
def test_invalid_bodies_are_located_422s(body: dict[str, Any], loc: tuple[Any, ...]) -> None:
    with pytest.raises(ValidationFailed) as info:
        parse_messages_request(body)
    assert tuple(info.value.details[0]["loc"])[: len(loc)] == loc
