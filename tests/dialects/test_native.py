"""The native dialect's frames: ids that are event positions, runs of one kind merged,
nothing after the terminal frame, no text able to forge a frame, reasoning signatures never
merged."""

from __future__ import annotations

import orjson

from aichatflow import Finish, ReasoningDelta, TextDelta, Usage, UsageUpdate, accumulate
from aichatflow.dialects import NativeDialect
from aichatflow.sse import SSEDecoder


def test_native_dialect_merges_text_runs_and_ids_frames_by_event_position() -> None:
    """A frame's id is the position of its last event: merged runs skip numbers, so the same
    position means the same event in every response (what resuming relies on)."""
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
        ("reasoning", "sid.2"),
        ("text", "sid.4"),
        ("usage", "sid.5"),
        ("done", "sid.6"),
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
