"""The Ollama native provider: parsing traps, request body, and the official client (the shared
contract runs on its three recorded streams in ``test_contract.py``, cases in ``cases/ollama.py``).

The fixtures are proved real twice: the official ``ollama`` Python client (the peer docs/testing.md
names, since no Ollama server installs here) parses every one of them from the same
fake server, and must agree with aichatflow's transcript field by field; and the bodies
aichatflow sends round-trip through the client's own ``Message``, ``Tool`` and ``Options``
models without losing a field.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import ollama
import pytest

from aichatflow.errors import (
    AIChatFlowError,
    ConfigError,
    EventTooLarge,
    ProviderError,
    RequestError,
    UpstreamBadRequest,
    UpstreamBadResponse,
    UpstreamDisconnected,
)
from aichatflow.events import ChatEvent, Finish, ReasoningDelta, StreamStart, TextDelta
from aichatflow.messages import ChatRequest
from aichatflow.providers import create_provider
from aichatflow.providers.ollama import OllamaProvider, map_finish_reason
from aichatflow.transcript import accumulate
from tests.support.fake_ollama import OllamaLines, model_not_found, ndjson, ndjson_stream
from tests.support.server import LogCapture, RunningServer
from tests.support.upstream import (
    FakeUpstream,
    RecordedRequest,
    end_chunked,
    fin,
    rst,
    sleep,
    stall,
)
from tests.upstream._client import NATIVE, OPENAI, Result, assert_clean, chat, request_body

from .cases.ollama import CASES, expect_thinking
from .contract import ProviderCase, check_grammar, fixture, rechunk


def make(url: str, **options: Any) -> OllamaProvider:
    return OllamaProvider("ol", {"base_url": url, "max_retries": 0, **options})


def chat_request(**data: Any) -> ChatRequest:
    body = {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}], **data}
    return ChatRequest.model_validate(body)


async def run(
    provider: OllamaProvider,
    request: ChatRequest | None = None,
    into: list[ChatEvent] | None = None,
) -> list[ChatEvent]:
    events = [] if into is None else into
    try:
        async for event in provider.stream(request or chat_request()):
            events.append(event)
    finally:
        await provider.aclose()
    return events


async def run_until_error(
    provider: OllamaProvider, request: ChatRequest | None = None
) -> tuple[list[ChatEvent], AIChatFlowError]:
    events: list[ChatEvent] = []
    with pytest.raises(AIChatFlowError) as info:
        await run(provider, request, into=events)
    return events, info.value


def texts(events: list[ChatEvent]) -> list[str]:
    return [e.text for e in events if isinstance(e, TextDelta)]


# --- the official client reads the same bytes ---------------------------------------------------


async def official_chat(url: str, model: str = "llama3.2") -> list[ollama.ChatResponse]:
    async with ollama.AsyncClient(host=url, timeout=5) as client:
        stream = await client.chat(
            model=model, messages=[{"role": "user", "content": "hi"}], stream=True
        )
        return [part async for part in stream]


@pytest.mark.parametrize("seed", [None, 7])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_official_client_parses_every_fixture_like_we_do(
    fake: FakeUpstream, case: ProviderCase, seed: int | None
) -> None:
    pieces = [case.fixture] if seed is None else rechunk(case.fixture, seed)
    fake.default = ndjson_stream(pieces, end_chunked())
    parts = await official_chat(fake.url)
    ours = accumulate(await run(make(fake.url)))

    assert all(isinstance(p, ollama.ChatResponse) for p in parts)
    assert [p.done for p in parts] == [False] * (len(parts) - 1) + [True]
    assert "".join(p.message.content or "" for p in parts) == ours.text
    assert "".join(p.message.thinking or "" for p in parts) == ours.reasoning
    theirs = [
        (c.function.name, dict(c.function.arguments))
        for p in parts
        for c in p.message.tool_calls or ()
    ]
    assert theirs == [(c.name, json.loads(c.arguments)) for c in ours.tool_calls]
    last = parts[-1]
    assert last.done_reason == ours.raw_finish_reason
    assert ours.usage is not None
    assert (last.prompt_eval_count, last.eval_count) == (
        ours.usage.input_tokens,
        ours.usage.output_tokens,
    )
    assert [r.path for r in fake.requests] == ["/api/chat", "/api/chat"]


async def test_official_client_raises_on_the_error_line_as_we_do(fake: FakeUpstream) -> None:
    fake.default = ndjson_stream(fixture("ollama", "error_mid_stream.ndjson"), end_chunked())
    parts: list[ollama.ChatResponse] = []
    async with ollama.AsyncClient(host=fake.url, timeout=5) as client:
        stream = await client.chat(
            model="llama3.2", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        with pytest.raises(ollama.ResponseError) as info:
            async for part in stream:
                parts.append(part)
    assert [p.message.content for p in parts] == ["The", " sky"]
    assert info.value.error == "an error was encountered while running the model"

    events, error = await run_until_error(make(fake.url))
    assert texts(events) == ["The", " sky"]
    assert type(error) is ProviderError and error.code == "upstream_error" and error.retryable
    assert "an error was encountered while running the model" in error.message


async def test_model_not_found_404_for_both_clients(fake: FakeUpstream) -> None:
    fake.default = model_not_found("nope")
    with pytest.raises(ollama.ResponseError) as info:
        await official_chat(fake.url, model="nope")
    assert (info.value.status_code, info.value.error) == (404, "model 'nope' not found")

    events, error = await run_until_error(make(fake.url), chat_request(model="nope"))
    assert events == []
    assert isinstance(error, UpstreamBadRequest) and error.status_code == 404
    assert error.message == "ol: model 'nope' not found" and not error.retryable


# --- the error line: raised at once, never waited on ------------------------------------------


async def test_error_line_raises_at_once_while_the_socket_stays_open(fake: FakeUpstream) -> None:
    """No ``done`` and no EOF follow the error line: a parser waiting for either would hang."""
    fake.default = ndjson_stream(fixture("ollama", "error_mid_stream.ndjson"), stall(10))
    started = time.monotonic()
    async with asyncio.timeout(2):
        events, error = await run_until_error(make(fake.url, read_timeout=30))
    assert time.monotonic() - started < 1.0
    assert isinstance(events[0], StreamStart) and texts(events) == ["The", " sky"]
    assert type(error) is ProviderError
    peer = fake.requests[0].wait_peer_closed(1.0)
    assert peer is not None, "the upstream connection was left open after the error line"


@pytest.mark.parametrize(
    "message",
    ["model 'llama9' not found, try pulling it first", '"llama3.2" does not support thinking'],
)
async def test_error_line_for_a_caller_mistake_is_a_bad_request(
    fake: FakeUpstream, message: str
) -> None:
    fake.default = ndjson_stream(ndjson(OllamaLines.error(message)), stall(5))
    _, error = await run_until_error(make(fake.url))
    assert isinstance(error, UpstreamBadRequest) and not error.retryable
    assert error.message == f"ol: {message}"


async def test_error_line_before_content_is_retried_then_the_stream_succeeds(
    fake: FakeUpstream,
) -> None:
    fake.queue(ndjson_stream(ndjson(OllamaLines.error()), stall(5)))
    fake.queue(ndjson_stream(fixture("ollama", "text.ndjson"), stall(5)))
    events = await run(make(fake.url, max_retries=1))
    check_grammar(events)
    assert accumulate(events).text == "The sky" and fake.attempts == 2


async def test_error_line_secrets_are_redacted(fake: FakeUpstream) -> None:
    fake.default = ndjson_stream(ndjson(OllamaLines.error("bad key sekrit-value-123")), stall(5))
    _, error = await run_until_error(make(fake.url, api_key="sekrit-value-123"))
    assert "sekrit" not in error.message and "[REDACTED]" in error.message


# --- how a stream may end badly -------------------------------------------------------------


@pytest.mark.parametrize("how", ["clean_eof", "fin", "rst", "cut_mid_line"])
async def test_eof_without_done_is_a_disconnect(fake: FakeUpstream, how: str) -> None:
    body = fixture("ollama", "text.ndjson")
    head, done_line = body[: body.rindex(b"{")], body[body.rindex(b"{") :]
    if how == "cut_mid_line":  # the done line arrives whole, but without its LF
        fake.default = ndjson_stream([head, done_line.rstrip(b"\n")], end_chunked())
    else:
        ends = {"clean_eof": [end_chunked()], "fin": [fin()], "rst": [sleep(0.1), rst()]}
        fake.default = ndjson_stream(head, *ends[how])
    events, error = await run_until_error(make(fake.url))
    assert texts(events) == ["The", " sky"]
    assert isinstance(error, UpstreamDisconnected) and error.retryable
    if how == "cut_mid_line":
        assert "in the middle of a line" in error.message


async def test_done_ends_the_stream_even_if_the_socket_stays_open(fake: FakeUpstream) -> None:
    fake.default = ndjson_stream(fixture("ollama", "text.ndjson"), stall(10))
    async with asyncio.timeout(2):
        events = await run(make(fake.url))
    assert isinstance(events[-1], Finish)
    assert fake.requests[0].wait_peer_closed(1.0) is not None


async def test_invalid_json_line_keeps_what_came_before_it_in_the_same_read(
    fake: FakeUpstream,
) -> None:
    lines = OllamaLines()
    body = (
        ndjson(lines.content("one")) + b'{"message": {"content": "tw\n' + ndjson(lines.content("x"))
    )
    fake.default = ndjson_stream(body, stall(5))  # one read: the bad line is in the middle
    events, error = await run_until_error(make(fake.url))
    assert texts(events) == ["one"]
    assert isinstance(error, UpstreamBadResponse) and not error.retryable


@pytest.mark.parametrize(
    "line", [b"[1, 2]\n", b'{"message": "text"}\n', b'{"message": {"tool_calls": ["x"]}}\n']
)
async def test_well_formed_json_of_the_wrong_shape_is_a_bad_response(
    fake: FakeUpstream, line: bytes
) -> None:
    fake.default = ndjson_stream(line, stall(5))
    _, error = await run_until_error(make(fake.url))
    assert isinstance(error, UpstreamBadResponse)


async def test_a_line_over_max_event_bytes_is_event_too_large(fake: FakeUpstream) -> None:
    lines = OllamaLines()
    huge = ndjson(lines.content("x" * 5000))
    fake.default = ndjson_stream(
        [ndjson(lines.content("small")) + huge[:3000], huge[3000:]], stall(5)
    )
    events, error = await run_until_error(make(fake.url, max_event_bytes=1024))
    assert texts(events) == ["small"]
    assert isinstance(error, EventTooLarge)
    assert fake.requests[0].wait_peer_closed(1.0) is not None


async def test_crlf_and_blank_lines_give_the_same_transcript(fake: FakeUpstream) -> None:
    body = fixture("ollama", "thinking.ndjson").replace(b"\n", b"\r\n\r\n")
    fake.default = ndjson_stream(rechunk(body, 11), stall(5))
    expect_thinking(accumulate(await run(make(fake.url))))


async def test_upstream_tool_call_ids_are_kept_and_whole_calls_follow_each_other(
    fake: FakeUpstream,
) -> None:
    """Newer Ollama sends an ``id`` per call; calls in separate lines get the next index."""
    lines = OllamaLines("qwen3")
    first = lines.tool_calls(("add", {"a": 1, "b": 2}))
    first["message"]["tool_calls"][0]["id"] = "call_k2jd81xa"
    body = ndjson(first, lines.tool_calls(("neg", {"x": -1.5})), lines.done("stop"))
    fake.default = ndjson_stream(body, stall(5))
    t = accumulate(await run(make(fake.url)))
    assert [(c.index, c.id, c.name, c.arguments) for c in t.tool_calls] == [
        (0, "call_k2jd81xa", "add", '{"a":1,"b":2}'),
        (1, "call_1", "neg", '{"x":-1.5}'),
    ]
    assert t.finish_reason == "tool-calls"


@pytest.mark.parametrize(
    ("raw", "called", "reason"),
    [
        ("stop", False, "stop"),
        ("stop", True, "tool-calls"),
        ("length", True, "length"),
        ("load", False, "other"),
        ("unload", False, "other"),
        ("something_new", False, "other"),
        (None, False, "stop"),
    ],
)
def test_map_finish_reason(raw: str | None, called: bool, reason: str) -> None:
    assert map_finish_reason(raw, called) == reason


async def test_length_finish_keeps_raw_reason_and_reasoning_comes_first(fake: FakeUpstream) -> None:
    lines = OllamaLines("qwen3")
    both = lines.thinking("hmm")
    both["message"]["content"] = "A"
    fake.default = ndjson_stream(ndjson(both, lines.done("length", prompt=3, output=9)), stall(5))
    events = await run(make(fake.url))
    assert [type(e) for e in events[1:3]] == [ReasoningDelta, TextDelta]
    assert isinstance(events[-1], Finish)
    assert (events[-1].reason, events[-1].raw_reason) == ("length", "length")


# --- the request --------------------------------------------------------------------------------

TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather for a location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "City, e.g. Paris, FR"},
                "format": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location", "format"],
        },
    },
}
CONVERSATION = [
    {"role": "developer", "content": "Be brief."},
    {
        "role": "user",
        "content": [{"type": "text", "text": "Weather "}, {"type": "text", "text": "in Paris?"}],
    },
    {
        "role": "assistant",
        "content": None,
        "reasoning_content": "Need the tool.",
        "tool_calls": [
            {
                "id": "call_0",
                "function": {
                    "name": "get_current_weather",
                    "arguments": '{"location": "Paris, FR", "format": "celsius"}',
                },
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_0", "content": "22 degrees"},
]


async def sent_body(
    fake: FakeUpstream, provider: OllamaProvider, request: ChatRequest
) -> RecordedRequest:
    fake.default = ndjson_stream(fixture("ollama", "text.ndjson"), stall(5))
    await run(provider, request)
    assert fake.requests[0].path == "/api/chat"
    return fake.requests[0]


async def test_default_body_is_minimal_and_keyless(fake: FakeUpstream) -> None:
    rec = await sent_body(fake, make(fake.url), chat_request())
    assert rec.json == {
        "model": "llama3.2",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
    }
    assert "authorization" not in rec.headers
    assert rec.headers["content-type"] == "application/json"


async def test_full_body_shape(fake: FakeUpstream) -> None:
    sampling = dict(max_tokens=64, temperature=0.2, top_p=0.9, stop="END", seed=7)
    request = chat_request(messages=CONVERSATION, tools=[TOOL], **sampling)
    rec = await sent_body(fake, make(fake.url, think=True, api_key="k-local"), request)
    body = rec.json
    assert body["stream"] is True and body["think"] is True
    opts = body["options"]
    assert opts == dict(num_predict=64, temperature=0.2, top_p=0.9, seed=7, stop=["END"])
    assert body["tools"] == [TOOL]
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "",
            "thinking": "Need the tool.",
            "tool_calls": [
                {
                    "function": {
                        "name": "get_current_weather",
                        "arguments": {"location": "Paris, FR", "format": "celsius"},
                    }
                }
            ],
        },
        {"role": "tool", "content": "22 degrees", "tool_name": "get_current_weather"},
    ]
    assert rec.headers["authorization"] == "Bearer k-local"

    # The official client's own models accept every part and lose nothing in the round trip.
    for message in body["messages"]:
        assert ollama.Message.model_validate(message).model_dump(exclude_none=True) == message
    for tool in body["tools"]:
        assert ollama.Tool.model_validate(tool).model_dump(exclude_none=True) == tool
    assert ollama.Options.model_validate(opts).model_dump(exclude_none=True) == opts


async def test_token_limit_from_max_completion_tokens_and_think_level(fake: FakeUpstream) -> None:
    rec = await sent_body(fake, make(fake.url, think="high"), chat_request(max_completion_tokens=5))
    assert rec.json["options"] == {"num_predict": 5} and rec.json["think"] == "high"


async def test_key_from_the_environment(
    fake: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_PROXY_KEY", "from-env")
    rec = await sent_body(fake, make(fake.url, api_key_env="OLLAMA_PROXY_KEY"), chat_request())
    assert rec.headers["authorization"] == "Bearer from-env"


async def test_images_from_data_urls(fake: FakeUpstream) -> None:
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]
    rec = await sent_body(
        fake, make(fake.url), chat_request(messages=[{"role": "user", "content": content}])
    )
    message = rec.json["messages"][0]
    assert message == {"role": "user", "content": "What is this?", "images": ["iVBORw0KGgo="]}
    official = ollama.Message(
        role="user", content="What is this?", images=[ollama.Image(value="iVBORw0KGgo=")]
    )
    assert official.model_dump(exclude_none=True) == message  # what the official client sends


@pytest.mark.parametrize(
    "message",
    [
        {
            "role": "assistant",
            "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "[1, 2]"}}],
        },
        {
            "role": "assistant",
            "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{oops"}}],
        },
        {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": "https://example.com/x.png"}}],
        },
    ],
    ids=["arguments_not_an_object", "arguments_not_json", "image_by_url"],
)
def test_requests_ollama_cannot_take_are_refused_before_sending(message: dict[str, Any]) -> None:
    provider = make("http://127.0.0.1:9")
    with pytest.raises(RequestError):
        provider.stream(chat_request(messages=[message]))


def test_config_is_validated() -> None:
    provider = create_provider("local-ollama", {"kind": "ollama"})
    assert isinstance(provider, OllamaProvider)
    assert provider.url == "http://127.0.0.1:11434/api/chat" and provider.think is None
    with pytest.raises(ConfigError, match="unknown option"):
        create_provider("o", {"kind": "ollama", "temprature": 1})
    with pytest.raises(ConfigError, match="think"):
        create_provider("o", {"kind": "ollama", "think": "maximum"})


# --- through a real aichatflow server -----------------------------------------------------------


@pytest.fixture
def ollama_server(start_server: Callable[..., RunningServer], fake: FakeUpstream) -> RunningServer:
    provider = {"kind": "ollama", "base_url": fake.url, "max_retries": 0, "read_timeout": 10}
    timers = {"first_token": 10.0, "progress": 10.0, "heartbeat": 15.0}
    return start_server(providers={"ol": provider}, stream=timers)


async def server_chat(server: RunningServer, path: str) -> Result:
    async with asyncio.timeout(5):
        return await chat(server.url, path, body=request_body(path, model="ol/llama3.2"))


@pytest.mark.parametrize("path", [NATIVE, OPENAI], ids=["native", "v1"])
async def test_server_error_line_mid_stream_is_one_error_frame_within_2s(
    fake: FakeUpstream, ollama_server: RunningServer, server_logs: LogCapture, path: str
) -> None:
    """The upstream keeps the socket open after its error line: only parsing it ends the turn."""
    fake.default = ndjson_stream(fixture("ollama", "error_mid_stream.ndjson"), stall(10))
    result = await server_chat(ollama_server, path)
    assert result.status == 200 and result.text == "The sky"
    assert result.error_code == "upstream_error"
    assert result.ended_at is not None and result.ended_at - result.sent_at < 2.0
    if result.native:
        events = [f.event for f in result.frames]
        assert events[-1] == "error" and set(events[:-1]) <= {"start", "text"}, events
        assert result.error is not None and result.error["retryable"] is True
    assert_clean(result, fake, server_logs)


@pytest.mark.parametrize("path", [NATIVE, OPENAI], ids=["native", "v1"])
async def test_server_eof_without_done_is_upstream_disconnected(
    fake: FakeUpstream, ollama_server: RunningServer, server_logs: LogCapture, path: str
) -> None:
    body = fixture("ollama", "text.ndjson")
    fake.default = ndjson_stream(body[: body.rindex(b"{")], end_chunked())
    result = await server_chat(ollama_server, path)
    assert result.text == "The sky" and result.error_code == "upstream_disconnected"
    assert_clean(result, fake, server_logs)


@pytest.mark.parametrize("path", [NATIVE, OPENAI], ids=["native", "v1"])
async def test_server_streams_reasoning_tool_calls_and_finish(
    fake: FakeUpstream, ollama_server: RunningServer, server_logs: LogCapture, path: str
) -> None:
    fake.default = ndjson_stream(rechunk(fixture("ollama", "tool_calls.ndjson"), 3), stall(10))
    result = await server_chat(ollama_server, path)
    assert result.reasoning == "The user wants the weather in Toronto and in Paris."
    calls = result.tool_calls()
    assert [
        (c["id"], c["name"], json.loads(c["arguments"])["location"]) for c in calls.values()
    ] == [
        ("call_0", "get_current_weather", "Toronto"),
        ("call_1", "get_current_weather", "Paris, FR"),
    ]
    if result.native:
        assert result.terminals[0].event == "done"
        assert result.terminals[0].json()["finish_reason"] == "tool-calls"
    else:
        assert result.terminals[0].data == "[DONE]"
    assert_clean(result, fake, server_logs)
