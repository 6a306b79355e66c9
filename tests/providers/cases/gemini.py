"""The Gemini provider's contract cases: three recorded streams (text with usage, thoughts with a
signature, parallel function calls), errors in Google's own error format."""

from __future__ import annotations

from typing import Any

import orjson

from aichatflow.providers.gemini import GeminiProvider
from aichatflow.transcript import Transcript

from ..contract import ProviderCase, fixture


def _gemini(url: str, **options: Any) -> GeminiProvider:
    key = "AIzaSyTESTKEY-0123456789abcdefghijkl"
    return GeminiProvider("g", {"base_url": url, "api_key": key, "max_retries": 0, **options})


def _error(code: int, status: str) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": f"{status} says no", "status": status}})


def _text_usage(t: Transcript) -> None:
    assert t.text == "Here you go!\n\n1.  **English:** Hi\n**Italian:** Ciao"
    assert t.reasoning == "" and t.tool_calls == ()
    assert (t.finish_reason, t.raw_finish_reason) == ("stop", "STOP")
    assert t.usage is not None  # the last usageMetadata; thoughts are output and reasoning
    assert (t.usage.input_tokens, t.usage.output_tokens, t.usage.reasoning_tokens) == (5, 230, 186)


def _thinking(t: Transcript) -> None:
    assert t.reasoning == (
        "**Greeting the user**\n\nThe user says hi, so I will greet them \u00e9t\u00e9-style."
    )
    assert t.reasoning_signature == "CiQB0e2Kb7Zt1ZsXQ0k9l9RTQ2tDE3XN3LkS+v3y1J6c1Vf8a2A="
    assert t.text == "Hello! \u00e9t\u00e9 \u2028 \U0001f600"
    assert (t.finish_reason, t.raw_finish_reason) == ("stop", "STOP")
    assert t.usage is not None
    assert t.usage.as_dict() == {
        "input_tokens": 4,
        "output_tokens": 63,
        "reasoning_tokens": 56,
        "cached_input_tokens": 2,
    }


def _function_call(t: Transcript) -> None:
    assert t.text == "Let me check both cities."
    assert [(c.index, c.id, c.name, c.arguments) for c in t.tool_calls] == [
        (0, "call_0", "get_weather", '{"city":"Paris"}'),
        (1, "call_1", "get_weather", '{"city":"K\u00f6ln","days":2}'),
    ]
    assert t.reasoning_signature == "CtwBAVSoXO6Tq0q2Yc1v7m8rV4mIP8yQ=="
    assert (t.finish_reason, t.raw_finish_reason) == ("tool-calls", "STOP")
    assert t.usage is not None
    assert (t.usage.input_tokens, t.usage.output_tokens) == (41, 25)


_ERROR_BODIES = {
    401: _error(401, "UNAUTHENTICATED"),
    429: _error(429, "RESOURCE_EXHAUSTED"),
    503: _error(503, "UNAVAILABLE"),
}
CASES = [
    ProviderCase(
        name=f"gemini-{name}",
        make=_gemini,
        fixture=fixture("gemini", f"{name}.sse"),
        content_type="text/event-stream",
        expected=expected,
        error_bodies=_ERROR_BODIES,
    )
    for name, expected in [
        ("text_usage", _text_usage),
        ("thinking", _thinking),
        ("function_call", _function_call),
    ]
]
