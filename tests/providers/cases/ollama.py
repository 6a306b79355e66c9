"""The Ollama native provider's contract cases: three recorded NDJSON streams (text, thinking,
tool calls), errors in gin's ``{"error": "..."}`` bodies.

``test_ollama.py`` also streams every one of these through the official ``ollama`` client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aichatflow.providers.ollama import OllamaProvider
from aichatflow.transcript import Transcript
from tests.support.fake_ollama import NDJSON

from ..contract import ProviderCase, fixture

OLLAMA_ERRORS = {  # gin's {"error": "..."} bodies, as Ollama answers before streaming
    401: b'{"error":"unauthorized"}',
    429: b'{"error":"too many requests"}',
    503: b'{"error":"server busy, please try again.  maximum pending requests exceeded"}',
}


def _ollama(url: str, **options: Any) -> OllamaProvider:
    return OllamaProvider("ol", {"base_url": url, "max_retries": 0, **options})


def expect_text(t: Transcript) -> None:
    assert (t.text, t.reasoning, t.tool_calls) == ("The sky", "", ())
    assert (t.finish_reason, t.raw_finish_reason) == ("stop", "stop")
    assert t.usage is not None and (t.usage.input_tokens, t.usage.output_tokens) == (26, 282)


def expect_thinking(t: Transcript) -> None:
    assert t.reasoning == "Okay, the user asks whether 10 < 23 \u2014 easy."
    assert t.text == "Yes: 10 < 23 & 23 > 10 \u2028 d\u00e9j\u00e0 vu \U0001f600."
    assert (t.finish_reason, t.raw_finish_reason) == ("stop", "stop")
    assert t.usage is not None and (t.usage.input_tokens, t.usage.output_tokens) == (18, 42)


def expect_tool_calls(t: Transcript) -> None:
    assert t.reasoning == "The user wants the weather in Toronto and in Paris."
    assert t.text == ""
    assert [(c.index, c.id, c.name, c.arguments) for c in t.tool_calls] == [
        (0, "call_0", "get_current_weather", '{"format":"celsius","location":"Toronto"}'),
        (1, "call_1", "get_current_weather", '{"format":"celsius","location":"Paris, FR"}'),
    ]
    assert (t.finish_reason, t.raw_finish_reason) == ("tool-calls", "stop")
    assert t.usage is not None and (t.usage.input_tokens, t.usage.output_tokens) == (122, 33)


EXPECTED: dict[str, Callable[[Transcript], None]] = {
    "text": expect_text,
    "thinking": expect_thinking,
    "tool_calls": expect_tool_calls,
}
CASES = [
    ProviderCase(
        name=f"ollama-{name}",
        make=_ollama,
        fixture=fixture("ollama", f"{name}.ndjson"),
        content_type=NDJSON,
        expected=expected,
        error_bodies=OLLAMA_ERRORS,
    )
    for name, expected in EXPECTED.items()
]
