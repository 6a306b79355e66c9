"""Well-behaved upstreams, real bytes (docs/upstreams.md): what arrives must be exactly what the
upstream sent, in order, once, however the bytes are framed, split or decorated."""

from __future__ import annotations

from itertools import groupby
from typing import Any

import pytest

from tests.support.server import LogCapture
from tests.support.upstream import (
    Chunks,
    FakeUpstream,
    Script,
    comment,
    data,
    done,
    end_chunked,
    event,
    headers,
    mark,
    openai_stream,
    raw,
    sleep,
    tool_call,
    usage_dict,
)

from ._client import NATIVE, Result, assert_clean, chat, request_body
from .conftest import ServeFn

TEXTS = ["Hel", "lo", ", wörld ", "🌍", "! ", "ünïcödé ", "日本語", "."]
TEXT = "".join(TEXTS)


def assert_done(result: Result, reason: str = "stop") -> None:
    terminal = result.terminals[0]
    if result.native:
        assert terminal.event == "done"
        assert terminal.json()["finish_reason"] == reason
    else:
        assert terminal.data == "[DONE]"
        finishes = [c["choices"][0]["finish_reason"] for c in _chunks(result) if c["choices"]]
        assert [f for f in finishes if f] == [reason]


def _chunks(result: Result) -> list[dict[str, Any]]:
    return [f.json() for f in result.frames if f.data != "[DONE]"]


async def test_text_arrives_identical_in_order_once(
    fake: FakeUpstream, serve: ServeFn, server_logs: LogCapture, path: str
) -> None:
    """Plain OpenAI text stream with a usage chunk; also the request the upstream received."""
    fake.queue(Script(openai_stream(TEXTS, usage=(12, 9))))
    server = serve()
    result = await chat(server.url, path)
    assert result.status == 200
    assert result.text == TEXT
    assert_done(result)
    if result.native:
        assert [f.event for f in result.frames[:1]] == ["start"]
        usage = {"input_tokens": 12, "output_tokens": 9, "reasoning_tokens": 0}
        usage["cached_input_tokens"] = 0
        assert [f.json() for f in result.named("usage")] == [usage]
        assert result.terminals[0].json()["usage"] == usage
    else:
        usage_chunks = [c for c in _chunks(result) if c.get("usage")]
        assert [c["usage"]["total_tokens"] for c in usage_chunks] == [21]
        assert usage_chunks[0]["choices"] == []
    sent = fake.requests[0]
    assert (sent.method, sent.path) == ("POST", "/v1/chat/completions")
    assert sent.json["model"] == "m" and sent.json["stream"] is True
    assert sent.json["stream_options"] == {"include_usage": True}
    assert sent.json["messages"] == request_body(path)["messages"]
    assert fake.attempts == 1
    assert_clean(result, fake, server_logs)


async def test_deltas_are_forwarded_as_they_arrive(
    fake: FakeUpstream, serve: ServeFn, server_logs: LogCapture, path: str
) -> None:
    """Each delta must reach the client while the upstream is still generating, not when some
    buffer fills or the stream ends (a chunker holding 64 KiB would fail this): before the
    upstream sends the next one, 0.5 s later."""
    c = Chunks()
    steps = [headers(200), event(c.role())]
    for i in range(4):
        steps += [mark(f"d{i}"), event(c.content(f"<{i}>")), sleep(0.5)]
    steps += [mark("d4"), event(c.finish()), done(), end_chunked()]
    fake.queue(Script(steps))
    result = await chat(serve().url, path)
    marks = fake.requests[0].marks
    frames = result.content_frames()
    assert result.text == "<0><1><2><3>"
    assert len(frames) == 4
    for i, frame in enumerate(frames):
        late = frame.at - marks[f"d{i}"]
        assert frame.at < marks[f"d{i + 1}"], f"delta {i} reached the client {late:.3f}s late"
    assert_clean(result, fake, server_logs)


async def test_deepseek_reasoning_becomes_reasoning_frames(
    fake: FakeUpstream, serve: ServeFn, server_logs: LogCapture, path: str
) -> None:
    c = Chunks.deepseek()
    usage = usage_dict(12, 9, reasoning=3, deepseek=True)
    fake.queue(
        Script(
            [
                headers(200),
                event(c.role()),
                event(c.reasoning("Hmm, the user just said ")),
                event(c.reasoning('"Hello!"\n')),
                event(c.content("Hello! How can I help?")),
                event(c.finish(usage=usage)),
                done(),
                end_chunked(),
            ]
        )
    )
    server = serve(kind="deepseek", api_key="sk-test-deepseek")
    result = await chat(server.url, path)
    assert result.reasoning == 'Hmm, the user just said "Hello!"\n'
    assert result.text == "Hello! How can I help?"
    if result.native:
        order = [f.event for f in result.content_frames()]  # deltas of one read merge
        assert [kind for kind, _ in groupby(order)] == ["reasoning", "text"]
        assert result.terminals[0].json()["usage"]["reasoning_tokens"] == 3
    assert_done(result)
    assert fake.requests[0].headers["authorization"] == "Bearer sk-test-deepseek"
    assert_clean(result, fake, server_logs)


TOOL_SCRIPTS = {
    # OpenAI's tool chunks, with openai-python#3201's quirk: two entries of one index in one chunk.
    "openai_same_index_twice": [
        [
            tool_call(0, id="call_abc", name="get_weather", arguments=""),
            tool_call(0, arguments='{"city"'),
        ],
        [tool_call(0, arguments=':"Paris"}')],
        [tool_call(1, id="call_def", name="get_time", arguments="")],
        [tool_call(1, arguments='{"tz":"CET"}')],
    ],
    # Ollama's OpenAI endpoint labels every call index 0 (vercel/ai#14277).
    "ollama_all_index_0": [
        [tool_call(0, id="call_abc", name="get_weather", arguments='{"city"')],
        [tool_call(0, arguments=':"Paris"}')],
        [tool_call(0, id="call_def", name="get_time", arguments='{"tz":"CET"}')],
    ],
}


@pytest.mark.parametrize("shape", sorted(TOOL_SCRIPTS))
async def test_tool_calls_assembled(
    fake: FakeUpstream, serve: ServeFn, server_logs: LogCapture, path: str, shape: str
) -> None:
    c = Chunks()
    steps = [headers(200), event(c.tool_calls(*TOOL_SCRIPTS[shape][0], role=True))]
    steps += [event(c.tool_calls(*calls)) for calls in TOOL_SCRIPTS[shape][1:]]
    steps += [event(c.finish("tool_calls")), done(), end_chunked()]
    fake.queue(Script(steps))
    result = await chat(serve().url, path)
    assert result.tool_calls() == {
        0: {"id": "call_abc", "name": "get_weather", "arguments": '{"city":"Paris"}'},
        1: {"id": "call_def", "name": "get_time", "arguments": '{"tz":"CET"}'},
    }
    assert_done(result, "tool-calls" if result.native else "tool_calls")
    assert_clean(result, fake, server_logs)


async def test_keepalives_and_noise_frames_ignored(
    fake: FakeUpstream, serve: ServeFn, server_logs: LogCapture, path: str
) -> None:
    """Frames that carry no chunk (docs/reliability.md T11): comments, ``data: :ping``, bare
    ``data:``, ``retry:`` alone, a BOM, ``event: ping``, JSON without ``choices``."""
    c = Chunks()
    fake.queue(
        Script(
            [
                headers(200),
                raw(b"\xef\xbb\xbf: OPENROUTER PROCESSING\n\n"),
                comment("keep-alive"),
                event(c.role()),
                data(":ping"),
                event(c.content("Hel")),
                raw(b"data:\n\n"),
                raw(b"retry: 3000\n\n"),
                comment("keep-alive"),
                raw(b'event: ping\ndata: {"type":"ping"}\n\n'),
                event(c.content("lo")),
                event({"id": c.id, "object": "chat.completion.chunk", "created": c.created}),
                data(":ping"),
                event(c.finish()),
                comment("keep-alive"),
                done(),
                end_chunked(),
            ]
        )
    )
    result = await chat(serve().url, path)
    assert result.text == "Hello"
    assert_done(result)
    assert_clean(result, fake, server_logs)


async def test_every_byte_in_its_own_write(
    fake: FakeUpstream, serve: ServeFn, server_logs: LogCapture
) -> None:
    """toxiproxy's ``slicer``: splits land inside UTF-8 sequences, CRLFs, chunk-size lines."""
    c = Chunks(system_fingerprint="", id="c")
    texts = ["é", "🌍", "日本", " ok"]
    steps = [headers(200), event(c.reasoning("ü")), *(event(c.content(t)) for t in texts)]
    steps += [event(c.finish()), done(), end_chunked()]
    fake.queue(Script(steps, slice_size=1, slice_delay=0.001))
    result = await chat(serve().url, NATIVE)
    assert result.text == "".join(texts)
    assert result.reasoning == "ü"
    assert_done(result)
    writes = fake.requests[0].writes
    assert len(writes) == fake.requests[0].bytes_written > 500  # really one byte per write
    assert_clean(result, fake, server_logs)


@pytest.mark.parametrize("eol", [b"\r", b"\r\n"], ids=["cr", "crlf"])
async def test_other_line_endings(
    fake: FakeUpstream, serve: ServeFn, server_logs: LogCapture, path: str, eol: bytes
) -> None:
    fake.queue(Script(openai_stream(TEXTS, eol=eol)))
    result = await chat(serve().url, path)
    assert result.text == TEXT
    assert_done(result)
    assert_clean(result, fake, server_logs)


async def test_unicode_line_separators_inside_json_preserved(
    fake: FakeUpstream, serve: ServeFn, server_logs: LogCapture, path: str
) -> None:
    """U+2028/U+2029/U+0085 are data, not line breaks (httpx-sse#34 corrupted them)."""
    texts = ["a\u2028b", "\u2029c\u0085", "d\u2028"]
    fake.queue(Script(openai_stream(texts)))
    result = await chat(serve().url, path)
    assert result.text == "".join(texts)
    assert "\u2028".encode() in result.raw or b"\\u2028" in result.raw
    assert_clean(result, fake, server_logs)


async def test_big_single_event_passes_intact(
    fake: FakeUpstream, serve: ServeFn, server_logs: LogCapture, path: str
) -> None:
    """T13 (a): one 200 KiB ``data:`` line, well under ``max_event_bytes``."""
    big = ("0123456789abcdé" * 14000)[: 200 * 1024]
    fake.queue(Script(openai_stream(["start ", big, " end"])))
    result = await chat(serve().url, path)
    assert result.text == "start " + big + " end"
    assert_done(result)
    assert_clean(result, fake, server_logs)
