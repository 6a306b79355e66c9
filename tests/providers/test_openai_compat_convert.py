"""The OpenAI-compatible adapter's request body, per server profile."""

from __future__ import annotations

from aichatflow import ChatRequest
from aichatflow.providers.openai_compat import DEEPSEEK, OPENAI
from aichatflow.providers.openai_compat._convert import request_body


def test_deepseek_gets_reasoning_back_only_on_tool_call_turns() -> None:
    """DeepSeek answers 400 without it on tool-call turns; others may reject the field."""
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    request = ChatRequest.model_validate(
        {
            "model": "deepseek-reasoner",
            "messages": [
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "reasoning_content": "use f", "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
                {"role": "assistant", "reasoning_content": "done", "content": "Sunny."},
            ],
            "max_tokens": 5,
            "presence_penalty": 0.5,
            "stream": False,
        }
    )
    body = request_body(request, DEEPSEEK)
    assert body["messages"][1]["reasoning_content"] == "use f"
    assert body["messages"][1]["content"] is None
    assert "reasoning_content" not in body["messages"][3]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["presence_penalty"] == 0.5 and body["max_tokens"] == 5
    openai = request_body(request.model_copy(update={"model": "gpt-4o"}), OPENAI)
    assert "reasoning_content" not in openai["messages"][1]
    assert openai["max_completion_tokens"] == 5
