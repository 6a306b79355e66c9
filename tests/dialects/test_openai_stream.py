"""The OpenAI streaming dialect (``chat.completion.chunk``): the chunks' bytes, runs of deltas
merged into one chunk, and an error that never ends in ``[DONE]``."""

from __future__ import annotations

import orjson

from aichatflow import Finish, ReasoningDelta, StreamError, TextDelta, ToolCallDelta, Usage
from aichatflow.dialects import OpenAIStreamDialect
from aichatflow.sse import SSEDecoder


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
