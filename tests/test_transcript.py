"""Folding a stream of events into a transcript."""

from __future__ import annotations

from aichatflow import Finish, ToolCallDelta, Usage, accumulate


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
