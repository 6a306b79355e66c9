"""The Anthropic Messages provider's contract cases: three recorded streams (plain text, a tool
call streamed as JSON fragments, extended thinking), errors in Anthropic's own error format."""

from __future__ import annotations

import json
from typing import Any

from aichatflow.providers.anthropic import AnthropicProvider
from aichatflow.transcript import Transcript

from ..contract import ProviderCase, fixture


def _anthropic(url: str, **options: Any) -> AnthropicProvider:
    key = "sk-ant-api03-very-secret-test-key"
    return AnthropicProvider(
        "claude", {"base_url": url, "api_key": key, "max_retries": 0, **options}
    )


def _basic(t: Transcript) -> None:
    assert t.text == "Hello there!"
    assert t.response_id == "msg_4QpJur2dWWDjF6C758FbBw5vm12BaVipnK"
    assert (t.finish_reason, t.raw_finish_reason) == ("stop", "end_turn")
    assert t.usage is not None and (t.usage.input_tokens, t.usage.output_tokens) == (11, 6)


def _tool_use(t: Transcript) -> None:
    assert t.text == "I'll check the current weather in Paris for you."
    assert [(c.index, c.id, c.name) for c in t.tool_calls] == [
        (0, "toolu_01NRLabsLyVHZPKxbKvkfSMn", "get_weather")
    ]
    assert json.loads(t.tool_calls[0].arguments) == {"location": "Paris"}
    assert (t.finish_reason, t.raw_finish_reason) == ("tool-calls", "tool_use")
    assert t.usage is not None and (t.usage.input_tokens, t.usage.output_tokens) == (377, 65)


def _thinking(t: Transcript) -> None:
    assert t.reasoning.startswith('The user has simply said "hey" as a greeting')
    assert t.reasoning.endswith("how I can help them today.")
    assert t.reasoning_signature.startswith("ErUBCkYIARgCIkACJWxz")
    assert t.reasoning_signature.endswith("+2b/pA==")
    assert len(t.reasoning_redacted) == 1 and t.reasoning_redacted[0].startswith("EmwKAhgB")
    assert t.text.startswith("Hello! I'm Assistant") and t.text.endswith("best to help.")
    assert t.usage is not None and (t.usage.input_tokens, t.usage.output_tokens) == (778, 104)


_ERRORS = {
    401: b'{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}',
    429: b'{"type":"error","error":{"type":"rate_limit_error","message":"Rate limited"}}',
    503: b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}',
}
CASES = [
    ProviderCase(
        name=f"anthropic-{name}",
        make=_anthropic,
        fixture=fixture("anthropic", file),
        content_type="text/event-stream; charset=utf-8",
        expected=expected,
        error_bodies=_ERRORS,
        # basic_response's first half ends before its first delta: nothing to close after.
        content_in_first_half=name != "basic",
    )
    for name, file, expected in [
        ("basic", "basic_response.sse", _basic),
        ("tool_use", "tool_use.sse", _tool_use),
        ("thinking", "thinking.sse", _thinking),
    ]
]
