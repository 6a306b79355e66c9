"""A client that leaves must stop the upstream (docs/reliability.md: guarantee 2, T14, T15).

The measure is the fake upstream's ``peer_closed_at`` (when reading its socket returned EOF or
a reset) minus the instant the client closed: how long a model keeps generating for nobody.
The budget is 250 ms on a 2-core CI box (target 100 ms); the 30-run test prints p50/p99.
"""

from __future__ import annotations

import math
import statistics

import pytest

from tests.support.server import LogCapture
from tests.support.upstream import (
    Chunks,
    FakeUpstream,
    Script,
    end_chunked,
    event,
    headers,
    mark,
    repeat,
    sleep,
)

from ._client import NATIVE, Result, after_content, assert_upstream_closed, chat, raw_chat
from .conftest import ServeFn

C = Chunks()
BUDGET = 0.25


def endless(interval: float, count: int = 600) -> Script:
    """One delta every ``interval`` seconds, ``count`` of them (bounded, ~30 s at 50 ms)."""
    body = repeat(count, event(C.content("tok ")), sleep(interval))
    return Script([headers(200), event(C.role()), *body, end_chunked()])


def cancel_latency(fake: FakeUpstream, result: Result) -> float:
    """Seconds from the client's close to the upstream's connection being closed."""
    assert result.closed_at is not None, "the client was meant to leave early"
    rec = fake.requests[-1]
    closed = rec.wait_peer_closed(2.0)
    assert closed is not None, "the client left but the upstream connection stayed open"
    return closed - result.closed_at


@pytest.mark.parametrize("client", ["httpx-close", "socket-rst"])
async def test_client_leaving_mid_stream_closes_the_upstream(
    fake: FakeUpstream, serve: ServeFn, server_logs: LogCapture, path: str, client: str
) -> None:
    """Client reads 3 content events, then closes (httpx: FIN) or resets (raw socket: RST)."""
    fake.default = endless(0.05)
    server = serve()
    if client == "httpx-close":
        result = await chat(server.url, path, stop_when=after_content(3))
    else:
        result = await raw_chat(server.url, path, stop_when=after_content(3), reset=True)
    assert result.text.startswith("tok tok tok")
    assert result.terminals == []  # it left before any terminal frame
    latency = cancel_latency(fake, result)
    assert latency <= BUDGET, f"upstream closed {latency * 1000:.0f} ms after the client left"
    assert fake.attempts == 1
    assert_upstream_closed(fake, server_logs)


@pytest.mark.parametrize("client", ["httpx", "socket-fin", "socket-rst"])
async def test_client_leaving_before_the_first_token_closes_the_upstream(
    fake: FakeUpstream, serve: ServeFn, server_logs: LogCapture, path: str, client: str
) -> None:
    """Upstream delays its headers 10 s; the client gives up after 0.5 s (LiteLLM PR #31499's
    window: on ``/v1`` nothing has been sent to the client yet, on native only ``start``)."""
    fake.default = Script([mark("accepted"), sleep(10), headers(200), event(C.role())])
    server = serve()
    if client == "httpx":
        result = await chat(server.url, path, leave_after=0.5)
    else:
        result = await raw_chat(server.url, path, leave_after=0.5, reset=client == "socket-rst")
    assert result.ended_at is None
    assert result.status == (200 if path == NATIVE else 0)  # /v1: not even headers yet
    assert [f.event for f in result.frames] == (["start"] if path == NATIVE else [])
    assert result.closed_at is not None
    assert fake.wait_requests(1)[0].marks["accepted"] < result.closed_at  # it was in flight
    latency = cancel_latency(fake, result)
    assert latency <= BUDGET, f"upstream closed {latency * 1000:.0f} ms after the client left"
    assert_upstream_closed(fake, server_logs)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile: with 30 samples, p99 is the worst one (no interpolation)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


async def test_upstream_closed_within_budget_over_30_disconnects(
    fake: FakeUpstream, serve: ServeFn, server_logs: LogCapture
) -> None:
    """The same mid-stream disconnect 30 times on one server: p99 within budget, and no run
    leaves an upstream connection or a task behind."""
    fake.default = endless(0.02)
    server = serve()
    latencies = []
    for _ in range(30):
        result = await chat(server.url, NATIVE, stop_when=after_content(3))
        latencies.append(cancel_latency(fake, result))
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    mean = statistics.fmean(latencies)
    print(
        f"cancel latency p50={p50 * 1000:.1f} ms p99={p99 * 1000:.1f} ms "
        f"mean={mean * 1000:.1f} ms max={max(latencies) * 1000:.1f} ms (n={len(latencies)})"
    )
    assert fake.attempts == 30
    assert p99 <= BUDGET
    assert_upstream_closed(fake, server_logs)
