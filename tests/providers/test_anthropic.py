"""The Anthropic Messages provider: the request conversion, the event parser, and faults through
a real aichatflow server (docs/reliability.md, T09, T10, T12). The shared contract runs on its
three recorded streams in ``test_contract.py`` (cases in ``cases/anthropic.py``).

Fixtures are real API bytes (``tests/fixtures/anthropic/README.md`` says where each comes from).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from aichatflow.errors import (
    ConfigError,
    ProviderError,
    RequestError,
    UpstreamAuth,
    UpstreamBadRequest,
    UpstreamBadResponse,
    UpstreamDisconnected,
    UpstreamOverloaded,
    UpstreamRateLimited,
    UpstreamTimeout,
)
from aichatflow.events import ChatEvent, Finish, ReasoningDelta, TextDelta, ToolCallDelta
from aichatflow.messages import ChatRequest
from aichatflow.providers import create_provider
from aichatflow.providers.anthropic import AnthropicProvider
from aichatflow.providers.anthropic._convert import request_body
from aichatflow.providers.anthropic._events import EventParser, map_finish_reason
from aichatflow.providers.base import Provider
from aichatflow.sse import ServerSentEvent
from aichatflow.transcript import accumulate
from tests.support.server import LogCapture, RunningServer
from tests.support.upstream import (
    Action,
    FakeUpstream,
    Script,
    fin,
    headers,
    mark,
    raw,
    repeat,
    respond,
    sleep,
    stall,
)
from tests.upstream._client import AT_ONCE, NATIVE, OPENAI, TIMER_SLACK, assert_clean, chat
from tests.upstream._client import request_body as client_body

from .contract import collect, fixture

KEY = "sk-ant-api03-very-secret-test-key"


def _provider(url: str, **options: Any) -> AnthropicProvider:
    return AnthropicProvider(
        "claude", {"base_url": url, "api_key": KEY, "max_retries": 0, **options}
    )


def _request(**body: Any) -> ChatRequest:
    body.setdefault("model", "claude-test")
    body.setdefault("messages", [{"role": "user", "content": "hi"}])
    return ChatRequest.model_validate(body)


def sse(kind: str, payload: dict[str, Any] | None = None) -> bytes:
    """One named event the way Anthropic writes it."""
    data = json.dumps({"type": kind, **(payload or {})}, separators=(",", ":"))
    return f"event: {kind}\ndata: {data}\n\n".encode()


START = sse("message_start", {"message": {"id": "msg_1", "usage": {"input_tokens": 5}}})
TEXT_BLOCK = sse("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
STOP = sse("message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}})
END = sse("message_stop")


def text_delta(text: str) -> bytes:
    delta = {"type": "text_delta", "text": text}
    return sse("content_block_delta", {"index": 0, "delta": delta})


# --- request conversion ------------------------------------------------------------------------

WEATHER_CALL = {
    "id": "toolu_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}
TIME_CALL = {"id": "toolu_2", "type": "function", "function": {"name": "now", "arguments": ""}}


def test_system_and_developer_messages_are_joined_into_system() -> None:
    body = request_body(
        _request(
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "hi"},
                {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
            ]
        ),
        max_tokens=4096,
    )
    assert body["system"] == "Be brief.\n\nAnswer in French."
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert (body["model"], body["max_tokens"], body["stream"]) == ("claude-test", 4096, True)
    assert "thinking" not in body and "tools" not in body and "tool_choice" not in body


def test_tool_calls_and_merged_tool_results() -> None:
    """Tool calls become ``tool_use`` blocks with parsed ``input``; consecutive tool results and
    the user text after them become one user message, results first."""
    body = request_body(
        _request(
            messages=[
                {"role": "user", "content": "Weather and time in Paris?"},
                {
                    "role": "assistant",
                    "content": "Checking.",
                    "tool_calls": [WEATHER_CALL, TIME_CALL],
                },
                {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
                {"role": "tool", "tool_call_id": "toolu_2", "content": "noon"},
                {"role": "user", "content": "Thanks"},
            ]
        ),
        max_tokens=100,
    )
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][1]["content"] == [
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_2", "name": "now", "input": {}},
    ]
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
        {"type": "tool_result", "tool_use_id": "toolu_2", "content": "noon"},
        {"type": "text", "text": "Thanks"},
    ]


def test_thinking_blocks_go_back_first_and_unchanged() -> None:
    assistant = {
        "role": "assistant",
        "content": None,
        "reasoning_content": "Let me check.",
        "reasoning_signature": "SIG==",
        "reasoning_redacted": ["RED1", "RED2"],
        "tool_calls": [WEATHER_CALL],
    }
    body = request_body(
        _request(messages=[{"role": "user", "content": "Paris?"}, assistant]), max_tokens=10
    )
    assert body["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "Let me check.", "signature": "SIG=="},
        {"type": "redacted_thinking", "data": "RED1"},
        {"type": "redacted_thinking", "data": "RED2"},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
    ]


def test_unsigned_reasoning_is_not_sent() -> None:
    """Reasoning from another provider (no signature) would be rejected by Anthropic."""
    assistant = {"role": "assistant", "content": "Hi!", "reasoning_content": "DeepSeek thought"}
    body = request_body(
        _request(messages=[{"role": "user", "content": "hi"}, assistant]), max_tokens=5
    )
    assert body["messages"][1]["content"] == [{"type": "text", "text": "Hi!"}]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (None, {"type": "auto"}),
        ("auto", {"type": "auto"}),
        ("none", {"type": "none"}),
        ("required", {"type": "any"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"type": "tool", "name": "get_weather"},
        ),
    ],
)
def test_tools_and_tool_choice(choice: Any, expected: dict[str, Any]) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather",
            "parameters": {"type": "object"},
        },
    }
    body = request_body(_request(tools=[tool], tool_choice=choice), max_tokens=10)
    assert body["tools"] == [
        {"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}}
    ]
    assert body["tool_choice"] == expected


def test_sampling_limits_thinking_and_images() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    request = _request(
        messages=[{"role": "user", "content": [{"type": "text", "text": "What is it?"}, image]}],
        max_completion_tokens=2000,
        temperature=0.5,
        top_p=0.9,
        stop="END",
    )
    body = request_body(request, max_tokens=4096, thinking_budget=1024)
    assert body["max_tokens"] == 2000
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert (body["temperature"], body["top_p"], body["stop_sequences"]) == (0.5, 0.9, ["END"])
    assert body["messages"][0]["content"][1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
    }


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}],
        [
            {
                "role": "assistant",
                "tool_calls": [{**WEATHER_CALL, "function": {"name": "f", "arguments": "{"}}],
            }
        ],
        [{"role": "tool", "content": "orphan result"}],
        [{"role": "system", "content": "only a system prompt"}],
    ],
    ids=["audio-part", "bad-arguments", "no-tool-call-id", "no-turns"],
)
def test_requests_anthropic_cannot_take_are_request_errors(messages: list[Any]) -> None:
    with pytest.raises(RequestError):
        request_body(_request(messages=messages), max_tokens=10)


# --- the event parser --------------------------------------------------------------------------


def _parse(*events: tuple[str, dict[str, Any]]) -> list[ChatEvent]:
    parser = EventParser("claude", "claude/m")
    out: list[ChatEvent] = []
    for kind, payload in events:
        parser.feed(ServerSentEvent(json.dumps({"type": kind, **payload}), event=kind), out)
    return out


def test_output_tokens_are_cumulative_and_cache_counts_as_input() -> None:
    usage = {"input_tokens": 10, "cache_creation_input_tokens": 4, "cache_read_input_tokens": 100}
    events = _parse(
        ("message_start", {"message": {"id": "m", "usage": {**usage, "output_tokens": 1}}}),
        ("message_delta", {"delta": {"stop_reason": None}, "usage": {"output_tokens": 6}}),
        ("message_delta", {"delta": {"stop_reason": "max_tokens"}, "usage": {"output_tokens": 9}}),
        ("message_stop", {}),
    )
    finish = events[-1]
    assert isinstance(finish, Finish) and finish.usage is not None
    assert (finish.reason, finish.raw_reason) == ("length", "max_tokens")
    assert finish.usage.output_tokens == 9  # replaced, never 1 + 6 + 9
    assert (finish.usage.input_tokens, finish.usage.cached_input_tokens) == (114, 100)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool-calls"),
        ("refusal", "content-filter"),
        ("pause_turn", "other"),
        ("model_context_window_exceeded", "other"),
    ],
)
def test_stop_reason_map(raw: str, reason: str) -> None:
    assert map_finish_reason(raw) == reason


def test_tool_calls_get_their_own_indexes_and_empty_input_is_an_object() -> None:
    """Anthropic's block index counts text blocks too; tool calls are numbered 0, 1, ..."""

    def tool(index: int, tool_id: str) -> tuple[str, dict[str, Any]]:
        block = {"type": "tool_use", "id": tool_id, "name": "now", "input": {}}
        return ("content_block_start", {"index": index, "content_block": block})

    events = _parse(
        ("message_start", {"message": {"id": "m"}}),
        tool(1, "toolu_a"),
        ("content_block_stop", {"index": 1}),
        tool(2, "toolu_b"),
        (
            "content_block_delta",
            {"index": 2, "delta": {"type": "input_json_delta", "partial_json": '{"a"'}},
        ),
        (
            "content_block_delta",
            {"index": 2, "delta": {"type": "input_json_delta", "partial_json": ":1}"}},
        ),
        ("content_block_stop", {"index": 2}),
        ("some_future_event", {"index": 9}),
    )
    calls = [e for e in events if isinstance(e, ToolCallDelta)]
    assert calls == [
        ToolCallDelta(index=0, id="toolu_a", name="now", arguments="{}"),
        ToolCallDelta(index=1, id="toolu_b", name="now", arguments='{"a":1}'),
    ]


def test_redacted_and_signature_are_reasoning_proofs() -> None:
    block = {"type": "redacted_thinking", "data": "opaque"}
    events = _parse(
        ("message_start", {"message": {"id": "m"}}),
        ("content_block_start", {"index": 0, "content_block": block}),
        (
            "content_block_delta",
            {"index": 1, "delta": {"type": "signature_delta", "signature": "S"}},
        ),
    )
    assert events[1:] == [ReasoningDelta("", redacted="opaque"), ReasoningDelta("", signature="S")]


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("overloaded_error", UpstreamOverloaded),
        ("rate_limit_error", UpstreamRateLimited),
        ("api_error", ProviderError),
        ("authentication_error", UpstreamAuth),
        ("invalid_request_error", UpstreamBadRequest),
        ("timeout_error", UpstreamTimeout),
    ],
)
def test_error_event_is_typed(kind: str, error: type[ProviderError]) -> None:
    parser = EventParser("claude", "claude/m", secrets=(KEY,))
    payload = {"type": "error", "error": {"type": kind, "message": f"boom with {KEY}"}}
    with pytest.raises(ProviderError) as info:
        parser.feed(ServerSentEvent(json.dumps(payload), event="error"), [])
    assert type(info.value) is error
    assert KEY not in info.value.message and "boom with" in info.value.message


@pytest.mark.parametrize(
    "data",
    ["not json", "[1, 2]", '{"type": "content_block_start", "content_block": "text"}'],
    ids=["not-json", "not-object", "wrong-shape"],
)
def test_malformed_events_are_bad_responses(data: str) -> None:
    with pytest.raises(UpstreamBadResponse):
        EventParser("claude", "claude/m").feed(ServerSentEvent(data, "content_block_start"), [])


# --- the provider over HTTP --------------------------------------------------------------------


async def test_request_headers_and_body(fake: FakeUpstream) -> None:
    fake.default = Script([headers(200), raw(fixture("anthropic", "basic_response.sse"))])
    request = _request(
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    )
    await collect(_provider(fake.url), request)
    rec = fake.requests[0]
    assert (rec.method, rec.path) == ("POST", "/v1/messages")
    assert rec.headers["x-api-key"] == KEY
    assert rec.headers["anthropic-version"] == "2023-06-01"
    assert rec.headers["content-type"] == "application/json"
    assert "authorization" not in rec.headers
    assert rec.json == {
        "model": "claude-test",
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "stream": True,
        "system": "Be brief.",
    }


async def test_key_comes_from_the_environment(
    fake: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_CLAUDE_KEY", "env-key")
    fake.default = Script([headers(200), raw(fixture("anthropic", "basic_response.sse"))])
    provider = create_provider(
        "claude", {"kind": "anthropic", "base_url": fake.url, "api_key_env": "MY_CLAUDE_KEY"}
    )
    assert isinstance(provider, Provider)
    assert accumulate(await collect(provider, _request())).text == "Hello there!"
    assert fake.requests[0].headers["x-api-key"] == "env-key"


@pytest.mark.parametrize(
    "options",
    [{"temperature": 1}, {"thinking_budget": 4096}, {"max_tokens": 0}, {"thinking_budget": "big"}],
)
def test_bad_options_are_config_errors(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        AnthropicProvider("claude", options)


async def test_end_without_message_stop_is_a_disconnect(fake: FakeUpstream) -> None:
    fake.default = Script([headers(200), raw(START + TEXT_BLOCK + text_delta("partial")), fin()])
    provider = _provider(fake.url)
    events: list[ChatEvent] = []
    try:
        with pytest.raises(UpstreamDisconnected):
            async for event in provider.stream(_request()):
                events.append(event)
    finally:
        await provider.aclose()  # else its aiohttp session is left for the garbage collector
    assert accumulate(events).text == "partial"


async def test_key_never_appears_in_errors(fake: FakeUpstream) -> None:
    """An upstream echoing the key (status body, in-band error) never gets it into a message."""
    echo = {"type": "error", "error": {"type": "authentication_error", "message": f"bad key {KEY}"}}
    fake.queue(Script(respond(401, echo)))
    fake.queue(Script([headers(200), raw(START + sse("error", {"error": echo["error"]}))]))
    for expected in (UpstreamAuth, UpstreamAuth):
        with pytest.raises(expected) as info:
            await collect(_provider(fake.url), _request())
        assert KEY not in str(info.value) and "bad key" in str(info.value)


async def test_a_non_streamed_message_body_is_replayed_as_events(fake: FakeUpstream) -> None:
    """LiteLLM answers a ``mock_response`` model with one JSON message (docs/testing.md)."""
    message = {
        "id": "msg_x",
        "type": "message",
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "Hmm.", "signature": "SIG"},
            {"type": "text", "text": "Sunny."},
            {"type": "tool_use", "id": "toolu_9", "name": "log", "input": {"ok": True}},
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 7, "output_tokens": 3},
    }
    fake.default = Script(respond(200, message))
    t = accumulate(await collect(_provider(fake.url), _request()))
    assert (t.reasoning, t.reasoning_signature, t.text) == ("Hmm.", "SIG", "Sunny.")
    assert [(c.id, c.name, json.loads(c.arguments)) for c in t.tool_calls] == [
        ("toolu_9", "log", {"ok": True})
    ]
    assert t.finish_reason == "tool-calls" and t.response_id == "msg_x"


# --- through a real aichatflow server ----------------------------------------------------------


def _serve(start_server: Any, fake: FakeUpstream, **stream: float) -> RunningServer:
    options = {"kind": "anthropic", "base_url": fake.url, "api_key": KEY, "max_retries": 0}
    timers = {"first_token": 10.0, "progress": 10.0, "heartbeat": 15.0, **stream}
    server: RunningServer = start_server(providers={"claude": options}, stream=timers)
    return server


def _prefix(*texts: str) -> list[Action]:
    steps: list[Action] = [headers(200), raw(START + TEXT_BLOCK)]
    for text in texts:
        steps += [raw(text_delta(text)), sleep(0.05)]  # own reads: one frame each
    return steps


@pytest.mark.parametrize("path", [NATIVE, OPENAI])
async def test_in_band_error_after_two_deltas(
    fake: FakeUpstream, start_server: Any, server_logs: LogCapture, path: str
) -> None:
    """T12 (b): the 2 deltas once, then one terminal ``upstream_overloaded`` (no retry)."""
    error = {"error": {"type": "overloaded_error", "message": "Overloaded"}}
    fake.queue(Script([*_prefix("x", "y"), raw(sse("error", error)), stall(5)]))
    server = _serve(start_server, fake)
    result = await chat(server.url, path, body=client_body(path, model="claude/claude-test"))
    assert result.text == "xy"
    assert result.error_code == "upstream_overloaded"
    assert result.error is not None and "Overloaded" in result.error["message"]
    if path == NATIVE:
        assert [f.event for f in result.frames] == ["start", "text", "text", "error"]
        assert result.error["retryable"] is True
    assert fake.attempts == 1
    assert_clean(result, fake, server_logs)


async def test_ping_only_stall_is_an_upstream_timeout(
    fake: FakeUpstream, start_server: Any, server_logs: LogCapture
) -> None:
    """T09 (b): ``event: ping`` every 0.2 s keeps the socket busy but makes no progress (a
    progress timer the pings reset would fire only after their 8 s)."""
    tail = repeat(40, raw(sse("ping")), sleep(0.2))
    fake.queue(Script([*_prefix("a", "b"), mark("stalled"), *tail]))
    server = _serve(start_server, fake, progress=1.0)
    result = await chat(server.url, NATIVE, body=client_body(NATIVE, model="claude/claude-test"))
    assert result.text == "ab"
    assert result.error_code == "upstream_timeout"
    rec = fake.requests[0]
    assert 0.9 <= result.terminals[0].at - rec.marks["stalled"] <= 1.0 + TIMER_SLACK
    assert rec.writes_after(rec.marks["stalled"]) >= 4  # the pings really flowed
    assert_clean(result, fake, server_logs)


async def test_message_stop_ends_the_stream_with_the_socket_left_open(
    fake: FakeUpstream, start_server: Any, server_logs: LogCapture
) -> None:
    """T10: ``done`` right after ``message_stop``, and the server closes the upstream itself."""
    fake.queue(Script([*_prefix("w", "x"), raw(STOP), mark("done"), raw(END), stall(10)]))
    server = _serve(start_server, fake)
    result = await chat(server.url, NATIVE, body=client_body(NATIVE, model="claude/claude-test"))
    assert result.text == "wx"
    terminal = result.terminals[0]
    assert terminal.event == "done" and terminal.json()["finish_reason"] == "stop"
    assert terminal.json()["usage"]["output_tokens"] == 3
    rec = fake.requests[0]
    assert terminal.at - rec.marks["done"] <= AT_ONCE  # not when the upstream's 10 s stall ends
    closed = rec.wait_peer_closed(2.0)
    assert closed is not None and closed - terminal.at <= AT_ONCE
    assert_clean(result, fake, server_logs)


def test_text_delta_helper_is_what_the_parser_reads() -> None:
    """Guards the byte helpers above: a broken helper would make every server test vacuous."""
    out: list[ChatEvent] = []
    parser = EventParser("claude", "claude/m")
    for chunk in (START, TEXT_BLOCK, text_delta("z"), STOP, END):
        head, data = chunk.decode().split("\n")[:2]
        sse = ServerSentEvent(data.removeprefix("data: "), event=head.removeprefix("event: "))
        parser.feed(sse, out)
    assert [type(e).__name__ for e in out] == [
        "StreamStart",
        "TextDelta",
        "UsageUpdate",
        "Finish",
    ]
    assert out[1] == TextDelta("z")
