"""Each provider's connection pool, seen from the upstream: streams through a real server to an
upstream that keeps connections alive and counts the ones it accepts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from aichatflow.server import create_app
from tests.conftest import make_settings
from tests.production.pooling.keepalive_upstream import KeepAliveUpstream, keepalive_upstream
from tests.support.client import stream_chat, user
from tests.support.server import RunningServer, serve

pytestmark = pytest.mark.timeout(60)

BODY = {"model": "up/m", "messages": user(), "stream": True}


@contextmanager
def server_for(
    upstream: KeepAliveUpstream, stream: dict[str, float] | None = None, **options: Any
) -> Iterator[RunningServer]:
    settings = make_settings(
        providers={"up": upstream.provider(**options)}, default_model="up/m", stream=stream or {}
    )
    with serve(create_app(settings)) as server:
        yield server


async def one_stream(server: RunningServer, path: str = "/v1/chat/completions") -> str:
    received = await stream_chat(server.url, BODY, path=path)
    assert received.status == 200, received.raw
    last = b"data: [DONE]" if path.startswith("/v1/") else b'"finish_reason":"stop"'
    assert last in received.raw.rstrip()[-100:], received.raw[-200:]
    return received.raw.decode()


async def test_sequential_streams_reuse_one_connection() -> None:
    with keepalive_upstream() as upstream, server_for(upstream) as server:
        for i in range(10):
            text = await one_stream(server, "/api/chat" if i % 2 else "/v1/chat/completions")
            assert "Hel" in text
        assert upstream.requests == 10
        assert upstream.accepted == 1


async def test_an_idle_connection_is_closed_after_keepalive() -> None:
    with keepalive_upstream() as upstream, server_for(upstream, keepalive=0.2) as server:
        await one_stream(server)
        await one_stream(server)  # at once: reused
        assert upstream.accepted == 1
        assert upstream.wait_closed(timeout=5.0), "the idle connection was never closed"
        await asyncio.sleep(0.3)
        await one_stream(server)
        assert (upstream.requests, upstream.accepted) == (3, 2)


async def test_a_reused_connection_is_not_taken_past_keepalive() -> None:
    """Whatever closes idle connections, one older than ``keepalive`` is never reused: a
    generous pause (0.6 s) against a tiny keep-alive (0.2 s) means a second connection."""
    with keepalive_upstream() as upstream, server_for(upstream, keepalive=0.2) as server:
        await one_stream(server)
        await asyncio.sleep(0.6)
        await one_stream(server)
        assert upstream.accepted == 2


async def test_keepalive_zero_opens_a_connection_per_request() -> None:
    with keepalive_upstream() as upstream, server_for(upstream, keepalive=0) as server:
        for _ in range(4):
            await one_stream(server)
        assert (upstream.requests, upstream.accepted) == (4, 4)
        assert upstream.wait_closed(timeout=5.0)


async def test_pool_size_caps_connections_and_the_rest_wait() -> None:
    delay = 0.4
    with (
        keepalive_upstream(delay=delay) as upstream,
        server_for(upstream, pool_size=2) as server,
    ):
        started = time.monotonic()
        texts = await asyncio.gather(*(one_stream(server) for _ in range(5)))
        elapsed = time.monotonic() - started
        assert all("Hel" in t for t in texts)
        assert upstream.requests == 5
        assert upstream.most_open == 2
        assert upstream.most_in_flight == 2
        assert upstream.accepted == 2  # the queued requests took the two connections over
        # three waves of `delay` each (2 + 2 + 1 streams); bound generously below that
        assert elapsed >= 2 * delay, elapsed


async def test_without_pool_size_the_same_streams_run_at_once() -> None:
    """The control for the test above: the default pool does not make them wait."""
    with keepalive_upstream(delay=0.4) as upstream, server_for(upstream) as server:
        await asyncio.gather(*(one_stream(server) for _ in range(5)))
        assert upstream.most_in_flight == 5
        assert upstream.accepted == 5


async def test_a_wait_for_a_connection_is_bounded_by_first_token() -> None:
    """A request queued behind a full pool is not stuck: its stream's ``first_token`` timer
    runs while it waits, and ends it with the usual ``upstream_timeout`` error."""
    with (
        keepalive_upstream(delay=4.0) as upstream,
        server_for(upstream, stream={"first_token": 1.0}, pool_size=1) as server,
    ):
        holder = asyncio.create_task(stream_chat(server.url, BODY, path="/api/chat"))
        while upstream.requests < 1:
            await asyncio.sleep(0.01)
        started = time.monotonic()
        waiting = await stream_chat(server.url, BODY, path="/api/chat")
        waited = time.monotonic() - started
        assert [e["code"] for e in waiting.data("error")] == ["upstream_timeout"], waiting.raw
        assert 0.9 <= waited < 3.5, waited  # ended by the timer, long before the holder's end
        assert upstream.requests == 1  # it never reached the upstream
        assert (await holder).text() == "Hello"
