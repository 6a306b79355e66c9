"""Request messages: tool-call arguments parsed once, with one clear error."""

from __future__ import annotations

import pytest

from aichatflow.errors import RequestError
from aichatflow.messages import FunctionCall, ToolCall


def test_tool_call_arguments_as_an_object() -> None:
    """Anthropic, Gemini and Ollama take tool arguments as an object: one parse, one error."""

    def call(arguments: str) -> ToolCall:
        return ToolCall(id="c1", function=FunctionCall(name="f", arguments=arguments))

    assert call("").arguments_object() == {}
    assert call('{"a": 1}').arguments_object() == {"a": 1}
    with pytest.raises(RequestError, match="'c1' \\(f\\): arguments are not valid JSON"):
        call("{nope").arguments_object()
    with pytest.raises(RequestError, match="must be a JSON object"):
        call("[1]").arguments_object()
