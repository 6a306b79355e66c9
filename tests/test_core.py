"""The pure parts: config precedence, registry resolution, transcript folding, mock output,
dialect bytes, error mapping and redaction."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from aichatflow import (
    ChatRequest,
    Finish,
    MockProvider,
    ReasoningDelta,
    Settings,
    StreamError,
    TextDelta,
    ToolCallDelta,
    Usage,
    UsageUpdate,
    accumulate,
)
from aichatflow.dialects import NativeDialect, OpenAICompletionDialect, OpenAIStreamDialect
from aichatflow.errors import (
    ConfigError,
    UnknownModel,
    UpstreamAuth,
    UpstreamRateLimited,
    error_from_status,
    redact,
)
from aichatflow.sse import SSEDecoder
from tests.conftest import make_settings


def test_settings_precedence_file_env_flags(tmp_path: Path) -> None:
    config = tmp_path / "a.toml"
    config.write_text('port = 9000\ndefault_model = "mock/echo"\n[stream]\nheartbeat = 7\n')
    env = {"AICHATFLOW_PORT": "9100", "AICHATFLOW_STREAM_HEARTBEAT": "3"}
    settings = Settings.load(config, env=env, overrides={"port": 9200, "host": None})
    assert settings.port == 9200  # flag beats env beats file
    assert settings.stream.heartbeat == 3.0
    assert settings.default_model == "mock/echo"
    assert settings.host == "127.0.0.1"


def test_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("port = 'eighty'\n")
    with pytest.raises(ConfigError, match="port"):
        Settings.load(bad, env={})
    with pytest.raises(ConfigError, match="not found"):
        Settings.load(tmp_path / "missing.toml", env={})
    with pytest.raises(ConfigError, match="unknown provider kind"):
        make_settings(providers={"x": {"kind": "nope"}}).build_registry(env={})
    with pytest.raises(ConfigError, match="base_url"):
        make_settings(providers={"x": {"kind": "vllm"}}).build_registry(env={})
    # a string would have been listed letter by letter
    vllm = {"kind": "vllm", "base_url": "http://127.0.0.1:9/v1", "models": "my-model"}
    with pytest.raises(ConfigError, match="models must be a list"):
        make_settings(providers={"x": vllm}).build_registry(env={})


def test_keys_in_the_environment_register_providers() -> None:
    from aichatflow.config import local_model_installed

    local = {"local"} if local_model_installed() else set()
    settings = make_settings(auto_detect=True)
    registry = settings.build_registry(env={"DEEPSEEK_API_KEY": "sk-test"})
    assert set(registry.providers) == {"mock", "deepseek"} | local
    assert ("deepseek/deepseek-reasoner", "deepseek") in registry.model_ids()
    assert set(settings.build_registry(env={}).providers) == {"mock"} | local
    off = make_settings(auto_detect=False).build_registry(env={"DEEPSEEK_API_KEY": "sk-test"})
    assert set(off.providers) == {"mock"}


def test_registry_resolves_names_and_aliases() -> None:
    registry = make_settings(models={"fast": "mock/echo"}).build_registry(env={})
    provider, bare = registry.resolve("fast")
    assert (provider.name, bare) == ("mock", "echo")
    assert registry.resolve("mock/anything")[1] == "anything"
    for bad in ("echo", "mock/", "other/echo", "/echo"):
        with pytest.raises(UnknownModel):
            registry.resolve(bad)


async def test_mock_is_deterministic_and_honours_max_tokens() -> None:
    mock = MockProvider("mock", {"tokens_per_second": 0, "first_token_ms": 0})
    request = ChatRequest.model_validate(
        {"model": "reasoner", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 37}
    )
    first = [e async for e in mock.stream(request)]
    second = [e async for e in mock.stream(request)]
    assert first == second
    assert sum(isinstance(e, TextDelta) for e in first) == 37
    assert any(isinstance(e, ReasoningDelta) for e in first)
    transcript = accumulate(first)
    assert transcript.finish_reason == "length"
    assert transcript.usage is not None and transcript.usage.output_tokens >= 37


def test_mock_pacing_sleeps_about_once_per_token_under_uvloop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """uvloop's timers fire up to 1 ms early: without slack the mock slept ~15 times a token."""
    uvloop = pytest.importorskip("uvloop")
    import asyncio

    sleeps = 0
    real_sleep = asyncio.sleep

    async def counting_sleep(delay: float) -> None:
        nonlocal sleeps
        sleeps += 1
        await real_sleep(delay)

    monkeypatch.setattr(asyncio, "sleep", counting_sleep)
    mock = MockProvider("mock", {"tokens_per_second": 200, "first_token_ms": 0})
    request = ChatRequest.model_validate(
        {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 40}
    )

    async def deltas() -> int:
        return len([e async for e in mock.stream(request) if isinstance(e, TextDelta)])

    assert uvloop.run(deltas()) == 40
    assert sleeps <= 60, f"{sleeps} sleeps for 40 paced tokens"


def test_transcript_assembles_tool_calls_by_index() -> None:
    t = accumulate(
        [
            ToolCallDelta(index=1, id="b", name="two", arguments='{"y"'),
            ToolCallDelta(index=0, id="a", name="one", arguments=""),
            ToolCallDelta(index=0, arguments='{"x": 1}'),
            ToolCallDelta(index=1, arguments=": 2}"),
            Finish(reason="tool-calls", usage=Usage(input_tokens=3)),
        ]
    )
    assert [(c.id, c.name, c.arguments) for c in t.tool_calls] == [
        ("a", "one", '{"x": 1}'),
        ("b", "two", '{"y": 2}'),
    ]
    assert t.complete and t.usage == Usage(input_tokens=3)


def test_native_dialect_merges_text_runs_and_numbers_frames() -> None:
    d = NativeDialect("sid", "m/x")
    body = d.open() + d.render(
        [
            ReasoningDelta("a"),
            ReasoningDelta("b"),
            TextDelta("He"),
            TextDelta("llo"),
            UsageUpdate(Usage(input_tokens=1, output_tokens=2)),
            Finish(reason="stop"),
            TextDelta("after the end"),
        ]
    )
    events = SSEDecoder().feed(body)
    assert [(e.event, e.id) for e in events] == [
        ("start", "sid.0"),
        ("reasoning", "sid.1"),
        ("text", "sid.2"),
        ("usage", "sid.3"),
        ("done", "sid.4"),
    ]
    assert orjson.loads(events[2].data) == {"text": "Hello"}
    assert orjson.loads(events[4].data)["usage"]["output_tokens"] == 2
    assert d.terminal and d.render([TextDelta("x")]) == b""


def test_native_dialect_frames_cannot_be_injected() -> None:
    d = NativeDialect("sid", "m")
    evil = "x\n\nevent: done\ndata: {}\r\n\r\n"
    events = SSEDecoder().feed(d.render([TextDelta(evil)]))
    assert [e.event for e in events] == ["text"]
    assert orjson.loads(events[0].data)["text"] == evil


def test_openai_stream_dialect_chunks() -> None:
    d = OpenAIStreamDialect("sid", "m/x", include_usage=True)
    body = d.open() + d.render(
        [
            TextDelta("Hi"),
            ToolCallDelta(index=0, id="call_1", name="f", arguments=""),
            Finish(reason="tool-calls", usage=Usage(input_tokens=2, output_tokens=1)),
        ]
    )
    payloads = [e.data for e in SSEDecoder().feed(body)]
    assert payloads[-1] == "[DONE]"
    chunks = [orjson.loads(p) for p in payloads[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": None}
    assert chunks[1]["choices"][0]["delta"] == {"content": "Hi"}
    call = chunks[2]["choices"][0]["delta"]["tool_calls"][0]
    function = {"arguments": "", "name": "f"}
    assert call == {"index": 0, "id": "call_1", "type": "function", "function": function}
    assert chunks[3]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[4]["choices"] == [] and chunks[4]["usage"]["total_tokens"] == 3
    assert all(c["id"] == "chatcmpl-sid" and c["model"] == "m/x" for c in chunks)


def test_openai_stream_dialect_merges_runs_of_deltas() -> None:
    """A batch (a lagging client, a burst upstream read) leaves as one chunk per run of one kind,
    in order, with the text unchanged."""
    d = OpenAIStreamDialect("sid", "m/x")
    batch = [ReasoningDelta("th"), ReasoningDelta("ink"), TextDelta("He"), TextDelta("llo")]
    batch += [ToolCallDelta(index=0, id="c", name="f", arguments="{}"), TextDelta("!")]
    payloads = [orjson.loads(e.data) for e in SSEDecoder().feed(d.render(batch))]
    deltas = [p["choices"][0]["delta"] for p in payloads]
    assert deltas[0] == {"reasoning_content": "think"}
    assert deltas[1] == {"content": "Hello"}
    assert "tool_calls" in deltas[2]
    assert deltas[3] == {"content": "!"}
    assert len(deltas) == 4


def test_openai_stream_error_has_no_done() -> None:
    d = OpenAIStreamDialect("sid", "m")
    body = d.render([TextDelta("a"), StreamError(code="upstream_timeout", message="slow")])
    assert b"[DONE]" not in body
    assert orjson.loads(SSEDecoder().feed(body)[-1].data)["error"]["code"] == "upstream_timeout"


def test_openai_completion_dialect_builds_one_body() -> None:
    d = OpenAICompletionDialect("sid", "m")
    assert d.render([ReasoningDelta("r"), TextDelta("a")]) == b""
    body = orjson.loads(d.render([TextDelta("b"), Finish(reason="stop")]))
    message = body["choices"][0]["message"]
    assert message == {"role": "assistant", "content": "ab", "reasoning_content": "r"}
    assert body["object"] == "chat.completion"


def test_status_mapping_and_redaction() -> None:
    err = error_from_status(
        429,
        b'{"error": {"message": "slow down, key sk-secretsecret123"}}',
        {"retry-after": "2"},
        provider="p",
        secrets=("sk-secretsecret123",),
    )
    assert isinstance(err, UpstreamRateLimited)
    assert err.retry_after == 2.0 and err.retryable
    assert "sk-secret" not in err.message
    assert isinstance(error_from_status(401, b"", {}, provider="p"), UpstreamAuth)
    conflict = error_from_status(409, b"", {}, provider="p")  # a lock upstream: worth a retry
    assert conflict.code == "upstream_error" and conflict.retryable
    assert error_from_status(422, b"", {}, provider="p").code == "bad_request"
    assert redact("Bearer abc.def and https://h/x?key=AIzaSECRET&x=1") == (
        "Bearer [REDACTED] and https://h/x?key=[REDACTED]&x=1"
    )


def test_public_api_exports() -> None:
    import aichatflow

    for name in aichatflow.__all__:
        assert hasattr(aichatflow, name), name


def test_plugin_kinds_come_from_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    """A package adds a provider kind with an ``aichatflow.providers`` entry point."""
    from importlib.metadata import EntryPoint

    import aichatflow.providers as providers

    plugin = EntryPoint(name="echo-plugin", value="aichatflow.providers.mock:create", group="x")

    def fake_entry_points(*, group: str, name: str | None = None) -> list[EntryPoint]:
        assert group == providers.ENTRY_POINT_GROUP
        return [plugin] if name in (None, "echo-plugin") else []

    monkeypatch.setattr(providers, "entry_points", fake_entry_points)
    assert "echo-plugin" in providers.known_kinds()
    provider = providers.create_provider("p", {"kind": "echo-plugin"})
    assert provider.name == "p" and isinstance(provider, MockProvider)


def test_deepseek_gets_reasoning_back_only_on_tool_call_turns() -> None:
    """DeepSeek answers 400 without it on tool-call turns; others may reject the field."""
    from aichatflow.providers.openai_compat import DEEPSEEK, OPENAI
    from aichatflow.providers.openai_compat._convert import request_body

    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    request = ChatRequest.model_validate(
        {
            "model": "deepseek-reasoner",
            "messages": [
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "reasoning_content": "use f", "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
                {"role": "assistant", "reasoning_content": "done", "content": "Sunny."},
            ],
            "max_tokens": 5,
            "presence_penalty": 0.5,
            "stream": False,
        }
    )
    body = request_body(request, DEEPSEEK)
    assert body["messages"][1]["reasoning_content"] == "use f"
    assert body["messages"][1]["content"] is None
    assert "reasoning_content" not in body["messages"][3]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["presence_penalty"] == 0.5 and body["max_tokens"] == 5
    openai = request_body(request.model_copy(update={"model": "gpt-4o"}), OPENAI)
    assert "reasoning_content" not in openai["messages"][1]
    assert openai["max_completion_tokens"] == 5


def test_reasoning_signatures_are_kept_apart_and_never_merged() -> None:
    d = NativeDialect("sid", "m")
    body = d.render(
        [
            ReasoningDelta("think "),
            ReasoningDelta("more"),
            ReasoningDelta("", signature="SIG"),
            ReasoningDelta("", redacted="BLOB"),
            TextDelta("ok"),
        ]
    )
    frames = [(e.event, orjson.loads(e.data)) for e in SSEDecoder().feed(body)]
    assert frames == [
        ("reasoning", {"text": "think more"}),
        ("reasoning", {"text": "", "signature": "SIG"}),
        ("reasoning", {"text": "", "redacted": "BLOB"}),
        ("text", {"text": "ok"}),
    ]
    t = accumulate([ReasoningDelta("a", signature="S1"), ReasoningDelta("", redacted="R")])
    assert (t.reasoning, t.reasoning_signature, t.reasoning_redacted) == ("a", "S1", ("R",))


def test_tool_call_arguments_as_an_object() -> None:
    """Anthropic, Gemini and Ollama take tool arguments as an object: one parse, one error."""
    from aichatflow.errors import RequestError
    from aichatflow.messages import FunctionCall, ToolCall

    def call(arguments: str) -> ToolCall:
        return ToolCall(id="c1", function=FunctionCall(name="f", arguments=arguments))

    assert call("").arguments_object() == {}
    assert call('{"a": 1}').arguments_object() == {"a": 1}
    with pytest.raises(RequestError, match="'c1' \\(f\\): arguments are not valid JSON"):
        call("{nope").arguments_object()
    with pytest.raises(RequestError, match="must be a JSON object"):
        call("[1]").arguments_object()
