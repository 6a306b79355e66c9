"""The UI message stream dialect's bytes: ``data: <part>`` frames ending in ``[DONE]``, every
part checked against the fields the AI SDK's strict schemas allow for the targeted major (an
unknown part or field fails the client's whole stream), blocks with ids opened and closed in
order, tool calls with parsed input, finish, abort and error parts, and the exact headers."""

from __future__ import annotations

import orjson
import pytest

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
from aichatflow.dialects.vercel_ui import UIMessageStreamDialect
from aichatflow.events import ChatEvent
from tests.support.hostile import HOSTILE
from tests.support.ui_parts import parts


def rendered(major: int, *batches: list[ChatEvent]) -> bytes:
    dialect = UIMessageStreamDialect("sid", "m/x", sdk_major=major)  # type: ignore[arg-type]
    dialect.begin_turn("conv", "msg-1")
    return b"".join(dialect.render(batch) for batch in batches)


@pytest.mark.parametrize("major", [5, 6])
def test_text_and_reasoning_blocks_in_order(major: int) -> None:
    body = rendered(
        major,
        [StreamStart(model="p/m"), ReasoningDelta("th"), ReasoningDelta("ink")],
        [ReasoningDelta("", signature="sig"), TextDelta("He"), TextDelta("llo")],
        [TextDelta(" you")],
        [UsageUpdate(Usage(input_tokens=5, output_tokens=7)), Finish(reason="stop")],
    )
    got = parts(body, major)
    kinds = [p["type"] for p in got]
    steps = ["start-step"]  # every ai@5 knows the step parts too
    end = ["finish-step"]
    assert kinds == [
        "start",
        *steps,
        "reasoning-start",
        "reasoning-delta",
        "reasoning-end",  # the signature closed it
        "text-start",
        "text-delta",
        "text-delta",
        "text-end",
        *end,
        "finish",
    ]
    assert got[0] == {"type": "start", "messageId": "msg-1"}
    reasoning = [p for p in got if p["type"].startswith("reasoning")]
    text = [p for p in got if p["type"].startswith("text")]
    assert {p["id"] for p in reasoning} != {p["id"] for p in text}
    assert len({p["id"] for p in text}) == 1 and len({p["id"] for p in reasoning}) == 1
    assert "".join(p["delta"] for p in reasoning if "delta" in p) == "think"
    assert "".join(p["delta"] for p in text if "delta" in p) == "Hello you"
    usage = got[-1]["messageMetadata"]["usage"]
    assert usage["inputTokens"] == 5 and usage["outputTokens"] == 7
    assert ("finishReason" in got[-1]) == (major == 6)


@pytest.mark.parametrize("major", [5, 6])
def test_tool_calls_stream_then_arrive_parsed(major: int) -> None:
    body = rendered(
        major,
        [TextDelta("Let me check.")],
        [ToolCallDelta(index=0, id="call_1", name="weather", arguments='{"city"')],
        [ToolCallDelta(index=1, id="", name="time", arguments="")],
        [ToolCallDelta(index=0, arguments=': "Paris"}')],
        [Finish(reason="tool-calls")],
    )
    got = parts(body, major)
    kinds = [p["type"] for p in got if p["type"].startswith("tool")]
    assert kinds == [
        "tool-input-start",
        "tool-input-delta",
        "tool-input-start",
        "tool-input-delta",
        "tool-input-available",
        "tool-input-available",
    ]
    assert got[[p["type"] for p in got].index("text-delta") + 1]["type"] == "text-end"
    available = [p for p in got if p["type"] == "tool-input-available"]
    assert available[0] == {
        "type": "tool-input-available",
        "toolCallId": "call_1",
        "toolName": "weather",
        "input": {"city": "Paris"},
    }
    assert available[1]["toolName"] == "time" and available[1]["input"] == {}
    assert available[1]["toolCallId"] == "call_sid_1"  # an upstream that gave no id

    deltas = [p for p in got if p["type"] == "tool-input-delta"]
    assert all(d["toolCallId"] == "call_1" for d in deltas)
    if major == 6:
        assert got[-1]["finishReason"] == "tool-calls"


@pytest.mark.parametrize("major", [5, 6])
def test_text_and_tool_arguments_in_one_batch_keep_their_order(major: int) -> None:
    """Text between two argument fragments of one call is written between them, not after."""
    body = rendered(
        major,
        [
            ToolCallDelta(index=0, id="call_1", name="weather", arguments='{"city"'),
            TextDelta("meanwhile"),
            ToolCallDelta(index=0, arguments=': "Paris"}'),
            Finish(reason="tool-calls"),
        ],
    )
    kinds = [p["type"] for p in parts(body, major)]
    first_text = kinds.index("text-delta")
    assert kinds[first_text + 1] == "text-end"
    assert (
        kinds.index("tool-input-delta")
        < first_text
        < len(kinds) - 1 - kinds[::-1].index("tool-input-delta")
    )


@pytest.mark.parametrize("major", [5, 6])
def test_arguments_that_are_not_json(major: int) -> None:
    body = rendered(
        major,
        [ToolCallDelta(index=0, id="c", name="f", arguments='{"a": tru')],
        [Finish(reason="stop")],
    )
    last_tool = [p for p in parts(body, major) if p["type"].startswith("tool-input-")][-1]
    assert last_tool["input"] == '{"a": tru'  # the raw text, whichever part carries it
    if major == 6:
        assert last_tool["type"] == "tool-input-error" and last_tool["errorText"]
    else:
        assert last_tool["type"] == "tool-input-available"


@pytest.mark.parametrize("major", [5, 6])
def test_error_after_content_is_an_error_part_then_done(major: int) -> None:
    error = StreamError(code="upstream_error", message="upstream overloaded", retryable=True)
    body = rendered(major, [TextDelta("partial")], [error])
    got = parts(body, major)
    assert [p["type"] for p in got][-3:] == ["text-delta", "text-end", "error"]
    assert got[-1] == {"type": "error", "errorText": "upstream overloaded"}


@pytest.mark.parametrize("major", [5, 6])
def test_cancelled_is_an_abort(major: int) -> None:
    got = parts(rendered(major, [TextDelta("x")], [Finish(reason="cancelled")]), major)
    assert got[-1]["type"] == "abort" and not any(p["type"] == "finish" for p in got)
    assert got[-1] == (
        {"type": "abort", "reason": "cancelled"} if major == 6 else {"type": "abort"}
    )


def test_engine_end_and_error_close_the_stream_once() -> None:
    dialect = UIMessageStreamDialect("sid", "m/x")
    body = dialect.render([TextDelta("a")]) + dialect.end()
    assert body.endswith(b"data: [DONE]\n\n") and dialect.terminal
    assert dialect.render([TextDelta("late")]) == b""
    assert dialect.error(StreamError(code="internal_error", message="x")) == b""
    assert parts(body, 6)[-1]["finishReason"] == "stop"


def test_content_flag_and_message_id_default() -> None:
    dialect = UIMessageStreamDialect("sid", "m/x", sdk_major=5)
    first = dialect.render([StreamStart(model="p/m")])
    assert not dialect.content and dialect.answered_by == "p/m"
    start, step = first.split(b"\n\n")[:2]
    assert orjson.loads(start[len(b"data: ") :]) == {"type": "start", "messageId": "msg_sid"}
    assert step == b'data: {"type":"start-step"}'
    dialect.render([TextDelta("a")])
    assert dialect.content
    dialect.render([UsageUpdate(Usage(output_tokens=1))])
    assert not dialect.content


def test_hostile_text_stays_inside_its_frames() -> None:
    """CR, LF, NUL and SSE syntax in model output cannot end a frame; U+2028/2029 stay raw."""
    body = rendered(
        6, [TextDelta(HOSTILE[:40])], [TextDelta(HOSTILE[40:])], [Finish(reason="stop")]
    )
    got = parts(body, 6)
    assert "".join(p["delta"] for p in got if p["type"] == "text-delta") == HOSTILE
    assert "\u2028".encode() in body


def test_headers_are_the_sdks_byte_for_byte() -> None:
    dialect = UIMessageStreamDialect("sid", "m/x")
    dialect.request_id = "rid"
    assert dialect.headers() == [
        (b"content-type", b"text/event-stream"),
        (b"cache-control", b"no-cache"),
        (b"connection", b"keep-alive"),
        (b"x-vercel-ai-ui-message-stream", b"v1"),
        (b"x-accel-buffering", b"no"),
        (b"x-request-id", b"rid"),
    ]
    assert dialect.turns == "replace" and dialect.heartbeat.startswith(b":")
