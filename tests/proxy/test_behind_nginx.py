"""aichatflow's streams through a real nginx with its default buffering on (T35, shrunk to fit CI).

nginx in front of a streaming server is where streams die in production: ``proxy_read_timeout``
(60 s by default) closes an upstream connection that sent nothing for that long, and
``proxy_buffering on`` (the default) lets nginx hold or spool what the server sends. aichatflow
answers both by itself, with no proxy setting needed: a heartbeat comment whenever nothing else
was written for ``[stream] heartbeat`` seconds, and ``X-Accel-Buffering: no`` on every event
stream. These tests stream through the configuration of ``tests/support/nginx.py`` (no buffering
setting in it) and time every frame against the moment the fake upstream wrote it;
``test_nginx_buffering.py`` has the negative controls showing that nginx's buffering is on there
and what the header changes. Timings: ``_streams.py``.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.support.nginx import Nginx
from tests.support.server import LogCapture, serve
from tests.support.upstream import FakeUpstream
from tests.upstream._client import NATIVE, OPENAI, Result, assert_clean, chat

from ._streams import (
    CHAT,
    DELTA_WITHIN,
    IDLE,
    READ_TIMEOUT,
    aichatflow_app,
    paced_stream,
    paced_text,
)

START_WITHIN = 0.5
"""Seconds from sending the request to the native ``start`` frame. Measured through nginx on the
shared 2-core machine: 84 to 117 ms for a fresh server's first request (this test's case), 4 to
8 ms after. What it catches is a start held back by buffering or waiting for the upstream, which
comes seconds later here (the upstream answers after ``READ_TIMEOUT + 1`` s)."""


def assert_prompt_deltas(result: Result, fake: FakeUpstream, count: int) -> None:
    """Every delta reached the client within ``DELTA_WITHIN`` of the fake's writing it."""
    marks = fake.requests[0].marks
    frames = result.content_frames()
    assert len(frames) == count, [f.data for f in result.frames]
    lateness = [frame.at - marks[f"d{i}"] for i, frame in enumerate(frames)]
    assert max(lateness) < DELTA_WITHIN, [f"{late:.3f}" for late in lateness]


def assert_no_read_timeout(proxy: Nginx) -> None:
    log = proxy.error_log.read_text()
    assert "timed out" not in log, log[-2000:]


async def test_native_stream_through_nginx_is_not_buffered_nor_cut(
    fake: FakeUpstream, nginx: Callable[..., Nginx], server_logs: LogCapture
) -> None:
    """Headers and ``start`` at once, although the upstream answers only after longer than
    ``proxy_read_timeout`` (heartbeats carry the wait); each delta as it is written; and a quiet
    stretch of twice ``proxy_read_timeout`` in mid-stream without a disconnect."""
    deltas = 4
    fake.queue(paced_stream(answer_after=READ_TIMEOUT + 1.0, ttft=0.0, deltas=deltas, idle=IDLE))
    with serve(aichatflow_app(fake)) as server:
        proxy = nginx([server.port], read_timeout=READ_TIMEOUT)
        result = await chat(proxy.url, NATIVE, body=CHAT, timeout=15.0)
    assert result.status == 200, result.raw[:500]
    assert result.headers["content-type"].startswith("text/event-stream")
    start = result.frames[0]
    assert start.event == "start"
    assert start.at - result.sent_at < START_WITHIN, f"start after {start.at - result.sent_at}"
    assert_prompt_deltas(result, fake, deltas + 1)
    assert result.text == paced_text(deltas)
    assert result.terminals[0].event == "done"
    assert result.raw.count(b"\n: hb\n\n") >= 4, "heartbeats did not pass through nginx"
    assert_clean(result, fake, server_logs)
    assert_no_read_timeout(proxy)


async def test_openai_stream_through_nginx_is_not_buffered_nor_cut(
    fake: FakeUpstream, nginx: Callable[..., Nginx], server_logs: LogCapture
) -> None:
    """``/v1/chat/completions`` writes its headers once the upstream has answered (so an
    upstream error before that is still a real HTTP status), and heartbeats from then on: a first
    token slower than ``proxy_read_timeout`` survives, and the same guarantees as native hold.
    (An upstream slower than ``proxy_read_timeout`` to answer at all gets nginx's 504 here:
    docs/deployment.md.)"""
    deltas = 4
    fake.queue(paced_stream(ttft=READ_TIMEOUT + 1.0, deltas=deltas, idle=IDLE))
    with serve(aichatflow_app(fake)) as server:
        proxy = nginx([server.port], read_timeout=READ_TIMEOUT)
        result = await chat(proxy.url, OPENAI, body=CHAT | {"stream": True}, timeout=15.0)
    assert result.status == 200, result.raw[:500]
    assert result.headers["content-type"].startswith("text/event-stream")
    assert_prompt_deltas(result, fake, deltas + 1)
    assert result.text == paced_text(deltas)
    assert [t.data for t in result.terminals] == ["[DONE]"]
    assert result.raw.count(b"\n: hb\n\n") >= 4, "heartbeats did not pass through nginx"
    assert_clean(result, fake, server_logs)
    assert_no_read_timeout(proxy)
