"""The engine's timers on a real server: heartbeats, first token, progress, max duration.

The mock provider's fault knobs make the upstream late in exactly the way each timer is for;
bounds are generous because CI is a shared 2-core machine.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson
import pytest

from tests.support.client import stream_chat, user


def _mock(**knobs: Any) -> dict[str, Any]:
    return {"m": {"kind": "mock", "tokens_per_second": 50, "first_token_ms": 0, **knobs}}


async def test_heartbeats_flow_before_the_first_token(start_server: Any) -> None:
    server = start_server(providers=_mock(first_token_ms=1200), stream={"heartbeat": 0.25})
    got = await stream_chat(server.url, {"model": "m/chat", "messages": user(), "max_tokens": 3})
    first_text = got.raw.index(b"event: text")
    assert got.raw[:first_text].count(b": hb\n\n") >= 2  # 1.2 s of silence, a beat every 0.25 s
    assert got.names() == ["start", "text", "text", "text", "done"]


async def test_first_token_timeout_ends_with_one_error_frame(start_server: Any) -> None:
    server = start_server(providers=_mock(stall_after=0), stream={"first_token": 0.5})
    t0 = time.monotonic()
    got = await stream_chat(server.url, {"model": "m/chat", "messages": user()})
    elapsed = time.monotonic() - t0
    assert got.status == 200
    assert got.names() == ["start", "error"]
    assert got.data("error")[0]["code"] == "upstream_timeout"
    assert got.data("error")[0]["retryable"] is True
    assert 0.45 <= elapsed < 2.5


async def test_progress_timeout_after_some_content(start_server: Any) -> None:
    server = start_server(providers=_mock(stall_after=3), stream={"progress": 0.5})
    got = await stream_chat(server.url, {"model": "m/chat", "messages": user()})
    assert got.names() == ["start", "text", "text", "text", "error"]
    assert got.data("error")[0]["code"] == "upstream_timeout"
    stall = got.arrival[-1] - got.arrival[-2]
    assert 0.45 <= stall < 2.0


async def test_max_duration_caps_a_stream(start_server: Any) -> None:
    server = start_server(providers=_mock(tokens_per_second=20), stream={"max_duration": 0.6})
    got = await stream_chat(server.url, {"model": "m/chat", "messages": user()})
    assert got.names()[-1] == "error"
    assert got.data("error")[0]["code"] == "stream_too_long"
    assert len(got.terminal()) == 1
    assert 3 <= len(got.data("text")) <= 25


async def test_timeout_on_openai_endpoint_before_headers_is_504(start_server: Any) -> None:
    """On /v1 the headers wait for the upstream, so a first-token timeout is a real status."""
    server = start_server(providers=_mock(stall_after=0), stream={"first_token": 0.4})
    body = {"model": "m/chat", "messages": user(), "stream": False}
    got = await stream_chat(server.url, body, path="/v1/chat/completions")
    assert got.status == 504
    assert got.headers["x-should-retry"] == "false"
    assert b'"code":"upstream_timeout"' in got.raw


# --- /v1 with and without streaming: the same timers ------------------------------------------

V1 = "/v1/chat/completions"
SLOW_ANSWER = " ".join(f"w{i}" for i in range(15))
"""15 tokens: 1.5 s at 10 tokens/s, three times a 0.5 s ``first_token`` limit."""


async def _v1(url: str, stream: bool) -> tuple[int, bytes, float]:
    """One ``/v1`` request on a real socket: (status, whole body, seconds it took)."""
    body = {"model": "m/chat", "messages": user(), "stream": stream}
    t0 = time.monotonic()
    async with httpx.AsyncClient(timeout=20) as client:
        resp = await client.post(url + V1, json=body)
    return resp.status_code, resp.content, time.monotonic() - t0


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
async def test_v1_answer_longer_than_first_token_finishes(start_server: Any, stream: bool) -> None:
    """``first_token`` bounds the wait for the first content only, in both modes: a
    non-stream answer arriving for longer than it is not a 504 (it was, at exactly 0.5 s)."""
    mock = _mock(tokens_per_second=10, text=SLOW_ANSWER)
    server = start_server(providers=mock, stream={"first_token": 0.5, "progress": 5.0})
    status, raw, elapsed = await _v1(server.url, stream)
    assert status == 200, raw
    assert elapsed >= 1.2  # it really streamed in for longer than first_token
    if stream:
        assert raw.endswith(b"data: [DONE]\n\n")
        assert b"upstream_timeout" not in raw
        assert raw.count(b'"content":"') >= 15
    else:
        message = orjson.loads(raw)["choices"][0]["message"]
        assert message["content"] == SLOW_ANSWER


@pytest.mark.parametrize(
    ("first_token", "progress"), [(0.4, 1.5), (5.0, 0.6)], ids=["short-first", "long-first"]
)
@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
async def test_v1_stall_after_content_fails_at_progress(
    start_server: Any, stream: bool, first_token: float, progress: float
) -> None:
    """Three tokens at once, then silence: the stream ends after ``progress``, never after
    ``first_token``, with a 504 without streaming and an error chunk with it."""
    server = start_server(
        providers=_mock(tokens_per_second=0, stall_after=3),
        stream={"first_token": first_token, "progress": progress},
    )
    status, raw, elapsed = await _v1(server.url, stream)
    assert progress * 0.9 <= elapsed < progress + 2.0, elapsed
    if stream:
        assert status == 200
        events = raw.decode().split("\n\n")
        assert events[-1] == ""
        assert events[-2].startswith('data: {"error":{')
        assert '"code":"upstream_timeout"' in events[-2]
        assert b"[DONE]" not in raw
    else:
        assert status == 504, raw
        assert orjson.loads(raw)["error"]["code"] == "upstream_timeout"
