"""Markdown with no key: ``mock/markdown``, and the mock's ``text`` option, on a real server.

The answer crosses tokenizing, SSE framing (a ``data:`` line per line of a multi-line token)
and both dialects; it must come out byte for byte, line breaks, indentation and table pipes
included.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from aichatflow.providers.mock import MARKDOWN_ANSWER
from tests.support.client import stream_chat, user
from tests.support.server import RunningServer

UNPACED = {"kind": "mock", "tokens_per_second": 0, "first_token_ms": 0}


def test_the_answer_has_every_common_markdown_construct() -> None:
    lines = MARKDOWN_ANSWER.splitlines()
    assert lines[0].startswith("## ")
    assert "**Markdown**" in MARKDOWN_ANSWER and "`inline code`" in MARKDOWN_ANSWER
    items = {"1. Pick `mock/markdown` in the model list.", "- no API key", "  - a nested item"}
    assert items <= set(lines)
    assert "|----------|:----------:|-----------|" in lines  # a table's separator row
    assert "```python" in lines and lines.count("```") == 1  # one fenced block, closed
    assert lines[-1].startswith("> ")


def test_the_default_mock_lists_markdown(start_server: Any) -> None:
    """``/v1/models`` is also what fills the chat page's model picker."""
    server: RunningServer = start_server()
    models = httpx.get(server.url + "/v1/models", timeout=5).json()
    assert "mock/markdown" in {m["id"] for m in models["data"]}


async def test_markdown_streams_exactly_on_the_native_api(start_server: Any) -> None:
    server: RunningServer = start_server(providers={"mock": UNPACED})
    got = await stream_chat(server.url, {"model": "mock/markdown", "messages": user("show me")})
    assert got.status == 200 and got.names()[-1] == "done"
    texts = [d["text"] for d in got.data("text")]
    assert "".join(texts) == MARKDOWN_ANSWER
    assert len(texts) > 50  # streamed token by token, not as one block
    assert sum("\n" in t for t in texts) > 10  # multi-line frames survived SSE framing


async def test_markdown_streams_exactly_on_the_openai_api(start_server: Any) -> None:
    server: RunningServer = start_server(providers={"mock": UNPACED})
    body = {"model": "mock/markdown", "messages": user("show me"), "stream": True}
    got = await stream_chat(server.url, body, path="/v1/chat/completions")
    assert got.status == 200 and got.events[-1].data == "[DONE]"
    chunks = [orjson.loads(e.data) for e in got.events[:-1]]
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert content == MARKDOWN_ANSWER


async def test_the_text_option_answers_any_markdown_of_yours(start_server: Any) -> None:
    mine = "# Mine\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```\ncode  with  spaces\n```\n"
    server: RunningServer = start_server(providers={"md": {**UNPACED, "text": mine}})
    for model in ("md/chat", "md/markdown"):  # ``text`` is every model's answer
        got = await stream_chat(server.url, {"model": model, "messages": user()})
        assert got.text() == mine, model
