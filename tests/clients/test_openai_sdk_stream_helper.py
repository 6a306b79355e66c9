"""The official SDK's ``client.chat.completions.stream()`` helper against a running aichatflow.

The helper folds chunks into a message (``ChatCompletionStreamState``) by concatenating every
string it sees, starting from the first chunk's delta. So the first chunk decides what a
tool-calls-only answer's ``content`` ends as: ``""`` if we announce the role with
``"content": ""``, ``None`` (what the non-stream body says) if with ``null``. Both sides are
real: a fake OpenAI-compatible upstream that answers with tool calls only, and uvicorn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from openai import OpenAI
from openai.types.chat import ChatCompletionMessageParam

from tests.support.server import RunningServer
from tests.support.upstream import Chunks, FakeUpstream, Script, done, end_chunked, event, tool_call
from tests.support.upstream import headers as upstream_headers

StartServer = Callable[..., RunningServer]
MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Weather in Paris?"}]
ARGUMENTS = '{"city":"Paris"}'


def tool_calls_only() -> Script:
    """OpenAI's bytes for an answer that is one tool call and no text."""
    c = Chunks()
    return Script(
        [
            upstream_headers(200),
            event(c.tool_calls(tool_call(0, id="call_1", name="weather", arguments=""), role=True)),
            event(c.tool_calls(tool_call(0, arguments=ARGUMENTS[:8]))),
            event(c.tool_calls(tool_call(0, arguments=ARGUMENTS[8:]))),
            event(c.finish("tool_calls")),
            done(),
            end_chunked(),
        ]
    )


@pytest.fixture
def server(start_server: StartServer, fake: FakeUpstream) -> RunningServer:
    up = {"kind": "openai-compatible", "base_url": f"{fake.url}/v1", "max_retries": 0}
    mock = {"kind": "mock", "tokens_per_second": 0, "first_token_ms": 0}
    return start_server(providers={"up": up, "mock": mock})


@pytest.fixture
def client(server: RunningServer) -> Iterator[OpenAI]:
    with OpenAI(base_url=server.url + "/v1", api_key="test", max_retries=0, timeout=15) as c:
        yield c


def test_tool_calls_only_content_is_none_with_the_stream_helper(
    client: OpenAI, fake: FakeUpstream
) -> None:
    fake.queue(tool_calls_only(), tool_calls_only())
    with client.chat.completions.stream(model="up/gpt", messages=MESSAGES) as stream:
        for _ in stream:
            pass
        streamed = stream.get_final_completion().choices[0]
    whole = client.chat.completions.create(model="up/gpt", messages=MESSAGES).choices[0]

    assert whole.message.content is None
    assert streamed.message.content is None
    assert streamed.finish_reason == whole.finish_reason == "tool_calls"
    for message in (streamed.message, whole.message):
        assert message.role == "assistant"
        assert message.tool_calls is not None
        [call] = message.tool_calls
        assert call.type == "function"
        assert (call.id, call.function.name, call.function.arguments) == (
            "call_1",
            "weather",
            ARGUMENTS,
        )


def test_text_answer_is_the_same_text_with_the_stream_helper(client: OpenAI) -> None:
    deltas: list[str] = []
    with client.chat.completions.stream(model="mock/chat", messages=MESSAGES) as stream:
        for ev in stream:
            if ev.type == "content.delta":
                deltas.append(ev.delta)
        streamed = stream.get_final_completion().choices[0].message
    whole = client.chat.completions.create(model="mock/chat", messages=MESSAGES).choices[0]

    assert whole.message.content is not None
    assert whole.message.content.startswith("You asked:")
    assert streamed.content == whole.message.content
    assert "".join(deltas) == whole.message.content
    assert streamed.tool_calls is None


def test_the_role_chunk_carries_null_content(server: RunningServer) -> None:
    """On the wire: the first chunk is ``{"role":"assistant","content":null}``, no chunk says
    ``"content":""``, and a text answer still arrives whole."""
    body: dict[str, Any] = {"model": "mock/chat", "messages": MESSAGES, "stream": True}
    with httpx.Client(timeout=15) as http:
        raw = http.post(server.url + "/v1/chat/completions", json=body).content
    events = raw.decode().split("\n\n")
    assert '"delta":{"role":"assistant","content":null}' in events[0]
    assert not any('"content":""' in e for e in events)
    assert events[-2] == "data: [DONE]"
