"""The OpenAI non-streaming dialect: the whole answer as one ``chat.completion`` body."""

from __future__ import annotations

import orjson

from aichatflow import Finish, ReasoningDelta, TextDelta
from aichatflow.dialects import OpenAICompletionDialect


def test_openai_completion_dialect_builds_one_body() -> None:
    d = OpenAICompletionDialect("sid", "m")
    assert d.render([ReasoningDelta("r"), TextDelta("a")]) == b""
    body = orjson.loads(d.render([TextDelta("b"), Finish(reason="stop")]))
    message = body["choices"][0]["message"]
    assert message == {"role": "assistant", "content": "ab", "reasoning_content": "r"}
    assert body["object"] == "chat.completion"
