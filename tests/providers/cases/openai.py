"""The built-in OpenAI-compatible adapter's contract case: one recorded stream with text, a tool
call and usage."""

from __future__ import annotations

from typing import Any

from aichatflow.providers.base import Provider
from aichatflow.providers.openai_compat import GENERIC, OpenAICompatProvider
from aichatflow.transcript import Transcript

from ..contract import ProviderCase, fixture


def _openai(url: str, **options: Any) -> Provider:
    return OpenAICompatProvider(
        "up", GENERIC, {"base_url": f"{url}/v1", "max_retries": 0, **options}
    )


def _expected(t: Transcript) -> None:
    assert t.text == "Hello! \u00e9t\u00e9 \u2028 \U0001f600"
    assert [(c.id, c.name, c.arguments) for c in t.tool_calls] == [
        ("call_abc", "get_weather", '{"city":"Paris"}')
    ]
    assert t.finish_reason == "tool-calls" and t.raw_finish_reason == "tool_calls"
    assert t.usage is not None and (t.usage.input_tokens, t.usage.output_tokens) == (12, 3)


CASES = [
    ProviderCase(
        name="openai",
        make=_openai,
        fixture=fixture("openai", "text_tool_usage.sse"),
        content_type="text/event-stream",
        expected=_expected,
    )
]
