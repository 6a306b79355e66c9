"""The engine's timers on a real server: heartbeats, first token, progress, max duration.

The mock provider's fault knobs make the upstream late in exactly the way each timer is for;
bounds are generous because CI is a shared 2-core machine.
"""

from __future__ import annotations

import time
from typing import Any

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
