"""The Anthropic Messages dialect's bytes: named events whose ``event:`` is the data's ``type``,
blocks numbered in order and closed before the next, signatures, redacted thinking, tool use,
usage and stop reasons, the ``ping`` heartbeat, and an ``error`` frame in Anthropic's shape."""

from __future__ import annotations

from typing import Any

import orjson

from aichatflow import (
    Finish,
    ReasoningDelta,
    StreamError,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    Usage,
    UsageUpdate,
)
from aichatflow.dialects.anthropic import (
    AnthropicMessageDialect,
    AnthropicStreamDialect,
    anthropic_stop_reason,
    tool_input,
)
from aichatflow.dialects.anthropic_errors import ANTHROPIC_ERRORS
from aichatflow.sse import SSEDecoder


def _events(body: bytes) -> list[dict[str, Any]]:
    out = []
    for e in SSEDecoder().feed(body):
        data = orjson.loads(e.data)
        assert e.event == data["type"]  # the event name is always the object's type
        out.append(data)
    return out


def test_stream_blocks_in_order() -> None:
    d = AnthropicStreamDialect("sid", "m/x")
    body = d.render([StreamStart(model="p/m"), ReasoningDelta("th"), ReasoningDelta("ink")])
    body += d.render(
        [
            ReasoningDelta("", signature="sig=="),
            ReasoningDelta("", redacted="ENC"),
            TextDelta("He"),
            TextDelta("llo"),
            ToolCallDelta(index=0, id="call_1", name="f", arguments='{"a"'),
            ToolCallDelta(index=0, arguments=": 1}"),
            UsageUpdate(Usage(input_tokens=10, output_tokens=3, cached_input_tokens=4)),
            Finish(reason="tool-calls"),
        ]
    )
    assert d.open() == b"" and d.terminal and d.answered_by == "p/m"
    ev = _events(body)
    types = [e["type"] for e in ev]
    assert types == [
        "message_start",
        "content_block_start",  # 0 thinking
        "content_block_delta",
        "content_block_delta",  # signature
        "content_block_stop",
        "content_block_start",  # 1 redacted
        "content_block_stop",
        "content_block_start",  # 2 text
        "content_block_delta",
        "content_block_stop",
        "content_block_start",  # 3 tool_use
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = ev[0]["message"]
    assert start["id"] == "msg_sid" and start["model"] == "m/x" and start["content"] == []
    assert start["role"] == "assistant" and start["usage"] == {
        "input_tokens": 0,
        "output_tokens": 0,
    }
    assert ev[1]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
    assert ev[2]["delta"] == {"type": "thinking_delta", "thinking": "think"}  # one run, one delta
    assert ev[3]["delta"] == {"type": "signature_delta", "signature": "sig=="}
    assert ev[5]["content_block"] == {"type": "redacted_thinking", "data": "ENC"}
    assert ev[8] == {
        "type": "content_block_delta",
        "index": 2,
        "delta": {"type": "text_delta", "text": "Hello"},
    }
    tool = ev[10]["content_block"]
    assert tool == {"type": "tool_use", "id": "call_1", "name": "f", "input": {}}
    assert "".join(e["delta"]["partial_json"] for e in ev[11:13]) == '{"a": 1}'
    indexes = [e["index"] for e in ev if "index" in e]
    assert indexes == [0, 0, 0, 0, 1, 1, 2, 2, 2, 3, 3, 3, 3]
    assert ev[14]["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    usage = {"input_tokens": 6, "output_tokens": 3, "cache_read_input_tokens": 4}
    assert ev[14]["usage"] == usage
    assert d.render([TextDelta("late")]) == b""


def test_stream_heartbeat_is_a_ping_event() -> None:
    d = AnthropicStreamDialect("sid", "m")
    assert d.heartbeat == b'event: ping\ndata: {"type": "ping"}\n\n'
    assert _events(d.heartbeat) == [{"type": "ping"}]


def test_stream_error_after_content_is_an_error_event() -> None:
    d = AnthropicStreamDialect("sid", "m")
    d.render([TextDelta("partial")])
    body = d.render([StreamError(code="upstream_overloaded", message="busy")])
    ev = _events(body)
    assert ev[-1] == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "busy", "code": "upstream_overloaded"},
        "request_id": "sid",
    }
    assert d.terminal and not any(e["type"] == "message_stop" for e in ev)


def test_stream_end_without_terminal_event_finishes_the_message() -> None:
    d = AnthropicStreamDialect("sid", "m")
    types = [e["type"] for e in _events(d.end())]
    assert types == ["message_start", "message_delta", "message_stop"]


def test_hostile_text_stays_inside_its_json_string() -> None:
    """Newlines, NUL, U+2028 and SSE field lines in model output are JSON-escaped, so they
    can never start a frame of their own."""
    hostile = "a\r\nevent: error\ndata: {}\n\n\x00\u2028b" + "z" * 200_000
    d = AnthropicStreamDialect("sid", "m")
    ev = _events(d.render([TextDelta(hostile), Finish(reason="stop")]))
    assert [e["delta"]["text"] for e in ev if e["type"] == "content_block_delta"] == [hostile]


def test_message_body_from_the_transcript() -> None:
    d = AnthropicMessageDialect("sid", "m/x")
    events = [
        StreamStart(model="p/m"),
        ReasoningDelta("why"),
        ReasoningDelta("", signature="sig"),
        ReasoningDelta("", redacted="ENC"),
        TextDelta("Hi"),
        ToolCallDelta(index=0, id="", name="f", arguments='{"q": "x"}'),
        Finish(reason="length", usage=Usage(input_tokens=5, output_tokens=2)),
    ]
    assert d.render(events[:2]) == b"" and d.content
    message = orjson.loads(d.render(events[2:]))
    assert message == {
        "id": "msg_sid",
        "type": "message",
        "role": "assistant",
        "model": "m/x",
        "content": [
            {"type": "thinking", "thinking": "why", "signature": "sig"},
            {"type": "redacted_thinking", "data": "ENC"},
            {"type": "text", "text": "Hi"},
            {"type": "tool_use", "id": "toolu_sid_0", "name": "f", "input": {"q": "x"}},
        ],
        "stop_reason": "max_tokens",
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 2, "cache_read_input_tokens": 0},
    }
    assert (b"content-type", b"application/json") in d.headers()


def test_message_error_is_a_whole_error_response() -> None:
    d = AnthropicMessageDialect("sid", "m")
    body = d.render([StreamError(code="upstream_rate_limited", message="slow", retry_after=2.5)])
    assert d.status == 429
    assert orjson.loads(body)["error"]["type"] == "rate_limit_error"
    headers = dict(d.headers())
    assert headers[b"retry-after"] == b"3" and headers[b"x-should-retry"] == b"false"


def test_error_types_by_status() -> None:
    def kind(code: str) -> str:
        body = ANTHROPIC_ERRORS.body(StreamError(code=code, message="m"), "r")
        return str(orjson.loads(body)["error"]["type"])

    assert kind("validation_failed") == "invalid_request_error"
    assert kind("unauthorized") == "authentication_error"
    assert kind("unknown_model") == "not_found_error"
    assert kind("body_too_large") == "request_too_large"
    assert kind("upstream_overloaded") == "overloaded_error"
    assert kind("internal_error") == "api_error"
    assert kind("not-a-code") == "api_error"


def test_stop_reasons_and_tool_input() -> None:
    assert anthropic_stop_reason("stop") == "end_turn"
    assert anthropic_stop_reason("content-filter") == "refusal"
    assert anthropic_stop_reason("stop", "stop_sequence") == "stop_sequence"
    assert anthropic_stop_reason("cancelled") == "end_turn"
    assert tool_input("") == {} and tool_input('{"a": [1]}') == {"a": [1]}
    assert tool_input("{broken") == {"_raw_arguments": "{broken"}
    assert tool_input("[1]") == {"_raw_arguments": "[1]"}


def test_the_sdk_accumulator_reads_signatures_redacted_blocks_and_tools() -> None:
    """The ``anthropic`` SDK's own stream accumulator (what ``messages.stream()`` uses) builds
    the message from these bytes: the signed thinking, the redacted block, text and the tool's
    parsed input (no upstream in the tests streams Anthropic signatures, so this is where the
    SDK sees them)."""
    from anthropic.lib.streaming._messages import accumulate_event
    from anthropic.types import RawMessageStreamEvent
    from pydantic import TypeAdapter

    d = AnthropicStreamDialect("sid", "m/x")
    body = d.render(
        [
            ReasoningDelta("because"),
            ReasoningDelta("", signature="c2ln"),
            ReasoningDelta("", redacted="RU5D"),
            TextDelta("Hi"),
            ToolCallDelta(index=0, id="toolu_1", name="f", arguments='{"a": [1, '),
            ToolCallDelta(index=0, arguments="2]}"),
            Finish(reason="tool-calls", usage=Usage(input_tokens=3, output_tokens=9)),
        ]
    )
    adapter: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)
    snapshot: Any = None
    json_bufs: dict[int, bytes] = {}
    for e in SSEDecoder().feed(body):
        event = adapter.validate_json(e.data)
        snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs=json_bufs)
    thinking, redacted, text, tool = snapshot.content
    assert (thinking.thinking, thinking.signature) == ("because", "c2ln")
    assert redacted.type == "redacted_thinking" and redacted.data == "RU5D"
    assert text.text == "Hi"
    assert (tool.id, tool.name, tool.input) == ("toolu_1", "f", {"a": [1, 2]})
    assert snapshot.stop_reason == "tool_use" and snapshot.usage.output_tokens == 9
