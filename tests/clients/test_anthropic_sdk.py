"""The official ``anthropic`` SDK as a real client of ``POST /v1/messages`` on a running server.

Why the real SDK: it is what users point at aichatflow; if it cannot accumulate a stream, map an
error status to its exception class or parse a tool call's input, the endpoint is broken for
them whatever our own decoder thinks. Every test talks to a real uvicorn on 127.0.0.1, with
the mock provider (deterministic: streamed text adds up to the non-streamed text) or the fake
OpenAI-compatible upstream (real bytes: tool calls, errors before and after content).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx
import pytest
from anthropic import Anthropic

from aichatflow.config import key_digest
from tests.support.hostile import HOSTILE
from tests.support.server import RunningServer
from tests.support.upstream import (
    Chunks,
    FakeUpstream,
    Script,
    done,
    end_chunked,
    event,
    headers,
    openai_stream,
    respond,
    tool_call,
)

StartServer = Callable[..., RunningServer]
FAST = {
    "kind": "mock",
    "tokens_per_second": 0,
    "first_token_ms": 0,
    "text": "One two three four five.",
}
PROMPT = "Count these four words"
PROMPT_TOKENS = 4
MAX_TOKENS = 12
"""The mock streams exactly ``max_tokens`` tokens when given one, and then says ``length``."""
MESSAGES: list[Any] = [{"role": "user", "content": PROMPT}]


@pytest.fixture
def server(start_server: StartServer, fake: FakeUpstream) -> RunningServer:
    providers = {
        "mock": {**FAST, "reasoning": False},
        "think": {**FAST, "reasoning": True},
        "up": fake.openai_provider(),
    }
    return start_server(providers=providers)


def _client(server: RunningServer, **kw: Any) -> Anthropic:
    return Anthropic(base_url=server.url, api_key="test", max_retries=0, timeout=15, **kw)


@pytest.fixture
def client(server: RunningServer) -> Iterator[Anthropic]:
    with _client(server) as c:
        yield c


def _create(c: Anthropic, **kw: Any) -> Any:
    return c.messages.create(
        **{"model": "mock/chat", "max_tokens": MAX_TOKENS, "messages": MESSAGES, **kw}
    )


def test_create_and_stream_agree(client: Anthropic) -> None:
    message = _create(client)
    assert message.type == "message" and message.role == "assistant"
    assert message.model == "mock/chat" and message.stop_reason == "max_tokens"
    [block] = message.content
    assert block.type == "text" and block.text
    assert (message.usage.input_tokens, message.usage.output_tokens) == (PROMPT_TOKENS, MAX_TOKENS)
    assert message._request_id

    types: list[str] = []
    text = ""
    for ev in _create(client, stream=True):
        types.append(ev.type)
        if ev.type == "content_block_delta" and ev.delta.type == "text_delta":
            text += ev.delta.text
    assert types[0] == "message_start" and types[-2:] == ["message_delta", "message_stop"]
    assert types[1] == "content_block_start" and types[-3] == "content_block_stop"
    assert text == block.text


def test_stream_helper_text_and_final_message(client: Anthropic) -> None:
    expected = _create(client).content[0].text
    with client.messages.stream(
        model="mock/chat", max_tokens=MAX_TOKENS, messages=MESSAGES
    ) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) > 1 and "".join(pieces) == expected
    assert final.content[0].text == expected and final.stop_reason == "max_tokens"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (PROMPT_TOKENS, MAX_TOKENS)


def test_thinking_blocks(client: Anthropic) -> None:
    message = _create(client, model="think/chat", thinking={"type": "enabled", "budget_tokens": 50})
    kinds = [b.type for b in message.content]
    assert kinds == ["thinking", "text"] and message.content[0].thinking
    with client.messages.stream(
        model="think/chat", max_tokens=MAX_TOKENS, messages=MESSAGES
    ) as stream:
        thinking = "".join(
            e.delta.thinking
            for e in stream
            if e.type == "content_block_delta" and e.delta.type == "thinking_delta"
        )
        final = stream.get_final_message()
    assert thinking == message.content[0].thinking == final.content[0].thinking
    assert final.content[1].text == message.content[1].text


def _tool_script() -> Script:
    c = Chunks()
    args = '{"city": "Paris", "days": 2}'
    return Script(
        [
            headers(200),
            event(c.tool_calls(tool_call(0, id="call_1", name="weather", arguments=""), role=True)),
            event(c.tool_calls(tool_call(0, arguments=args[:9]))),
            event(c.tool_calls(tool_call(0, arguments=args[9:]))),
            event(c.finish("tool_calls")),
            event(c.usage(20, 7)),
            done(),
            end_chunked(),
        ]
    )


TOOLS: list[Any] = [
    {
        "name": "weather",
        "description": "the forecast",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_tool_use(client: Anthropic, fake: FakeUpstream, stream: bool) -> None:
    fake.queue(_tool_script())
    kw: dict[str, Any] = {"model": "up/m", "max_tokens": 64, "messages": MESSAGES, "tools": TOOLS}
    kw["tool_choice"] = {"type": "tool", "name": "weather"}
    if stream:
        with client.messages.stream(**kw) as s:
            message = s.get_final_message()
    else:
        message = client.messages.create(**kw)
    [block] = message.content
    assert block.type == "tool_use" and (block.id, block.name) == ("call_1", "weather")
    assert block.input == {"city": "Paris", "days": 2}
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (20, 7)
    sent = fake.requests[-1].json
    assert sent["tools"][0]["function"]["parameters"] == TOOLS[0]["input_schema"]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "weather"}}
    assert sent["max_tokens"] == 64


def test_a_tool_round_trip_reaches_the_upstream_in_openai_shape(
    client: Anthropic, fake: FakeUpstream
) -> None:
    fake.queue(Script(openai_stream(["done"])))
    messages: list[Any] = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "weather", "input": {"c": 1}}],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "sunny"},
                {"type": "text", "text": "thanks"},
            ],
        },
    ]
    message = client.messages.create(
        model="up/m", max_tokens=10, system="be brief", messages=messages, stop_sequences=["X"]
    )
    assert message.content[0].text == "done" and message.stop_reason == "end_turn"
    sent = fake.requests[-1].json
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "tool", "user"]
    assert sent["messages"][2]["tool_calls"][0]["function"] == {
        "name": "weather",
        "arguments": '{"c":1}',
    }
    assert sent["messages"][3] == {"role": "tool", "tool_call_id": "t1", "content": "sunny"}
    assert sent["stop"] == ["X"]


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
@pytest.mark.parametrize(
    ("status", "cls", "kind"),
    [
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
    ],
)
def test_upstream_error_before_content_is_a_status(
    client: Anthropic,
    fake: FakeUpstream,
    status: int,
    cls: type[Exception],
    kind: str,
    stream: bool,
) -> None:
    fake.queue(Script([respond(status, {"error": {"message": "no"}}, retry_after="3")]))
    with pytest.raises(cls) as info:
        _create(client, model="up/m", stream=stream)
    exc: Any = info.value
    assert exc.body["type"] == "error" and exc.body["error"]["type"] == kind
    assert exc.response.headers["x-should-retry"] == "false"


def test_error_after_content_raises_from_the_stream(client: Anthropic, fake: FakeUpstream) -> None:
    c = Chunks()
    fake.queue(Script([headers(200), event(c.role()), event(c.content("Hello")), end_chunked()]))
    text = ""
    with pytest.raises(anthropic.APIStatusError) as info:
        for ev in _create(client, model="up/m", stream=True):
            if ev.type == "content_block_delta" and ev.delta.type == "text_delta":
                text += ev.delta.text
    assert text == "Hello"
    body: Any = info.value.body
    assert body["type"] == "error" and body["error"]["code"] == "upstream_disconnected"


def test_validation_errors_are_anthropic_422s(client: Anthropic, fake: FakeUpstream) -> None:
    with pytest.raises(anthropic.UnprocessableEntityError) as info:
        client.post("/v1/messages", body={"model": "mock/chat", "messages": MESSAGES}, cast_to=dict)
    body: Any = info.value.body
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["code"] == "validation_failed"
    assert body["error"]["details"][0]["loc"] == ["max_tokens"]
    doc = {"type": "document", "source": {"type": "text", "data": "x", "media_type": "text/plain"}}
    with pytest.raises(anthropic.UnprocessableEntityError) as info:
        _create(client, messages=[{"role": "user", "content": [doc]}])
    error: Any = info.value.body["error"]  # type: ignore[index]
    assert "'document'" in error["message"] and error["details"][0]["loc"] == [
        "messages",
        0,
        "content",
    ]
    with pytest.raises(anthropic.NotFoundError):
        _create(client, model="nowhere/x")
    assert fake.connections == 0


def test_images_pass_to_the_upstream_as_image_url(client: Anthropic, fake: FakeUpstream) -> None:
    fake.queue(Script(openai_stream(["a cat"])))
    image = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "QUJD"},
    }
    content: list[Any] = [{"type": "text", "text": "what is it?"}, image]
    _create(client, model="up/m", messages=[{"role": "user", "content": content}])
    parts = fake.requests[-1].json["messages"][0]["content"]
    assert parts[1] == {"type": "image_url", "image_url": {"url": "data:image/png;base64,QUJD"}}


def test_a_wrong_key_is_an_authentication_error(start_server: StartServer) -> None:
    server = start_server(
        providers={"mock": FAST}, auth={"keys": [{"id": "k", "sha256": key_digest("right")}]}
    )
    with _client(server) as c, pytest.raises(anthropic.AuthenticationError) as info:
        _create(c)
    assert info.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    with Anthropic(base_url=server.url, api_key="right", max_retries=0, timeout=15) as c:
        assert _create(c).content[0].text


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_hostile_model_output_arrives_intact(
    client: Anthropic, fake: FakeUpstream, stream: bool
) -> None:
    fake.queue(Script(openai_stream([HOSTILE[:40], HOSTILE[40:]])))
    if stream:
        with client.messages.stream(model="up/m", max_tokens=10, messages=MESSAGES) as s:
            text = "".join(s.text_stream)
    else:
        text = _create(client, model="up/m").content[0].text
    assert text == HOSTILE


def test_routing_errors_under_v1_messages_take_anthropic_shape(server: RunningServer) -> None:
    """``ERROR_SHAPES``: ``/v1/messages`` is Anthropic's, the rest of ``/v1`` stays OpenAI's."""
    wrong_method = httpx.get(server.url + "/v1/messages", timeout=15)
    assert wrong_method.status_code == 405
    assert wrong_method.json()["type"] == "error"
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
    not_json = httpx.post(
        server.url + "/v1/messages",
        content=b"{",
        timeout=15,
        headers={"content-type": "application/json"},
    )
    assert not_json.status_code == 400
    assert not_json.json()["error"]["type"] == "invalid_request_error"
    elsewhere = httpx.get(server.url + "/v1/messagesx", timeout=15)
    assert elsewhere.status_code == 404 and elsewhere.json()["error"]["type"] == "not_found"
