"""Several instances on one Redis journal (T27, T33 with Redis), over real sockets and processes.

Instance A is an ``aichatflow serve`` process (so it can be killed), instance B runs in this
process; both journal into one real ``redis-server``. A run started on A is resumed on B from
the last id the client saw, exactly once; when A is killed with ``SIGKILL`` while a reader
follows on B, that reader gets ``producer_lost`` within two heartbeats instead of hanging; when
A gets ``SIGTERM``, its readers are told to go, and resuming on B gives the rest of an answer A
finished within its shutdown grace, with no gap.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from aichatflow.server import create_app
from aichatflow.sse import SSEDecoder
from tests.conftest import make_settings
from tests.support.serve_process import ServeProcess, serve_process
from tests.support.server import RunningServer, serve

HEARTBEAT = 0.5


def config(redis_url: str, tokens_per_second: int = 10) -> str:
    return f"""
[journal]
backend = "redis"
url = "{redis_url}"
ttl = 2
[stream]
heartbeat = {HEARTBEAT}
[providers.slow]
kind = "mock"
tokens_per_second = {tokens_per_second}
first_token_ms = 0
"""


def body(tokens: int) -> dict[str, Any]:
    return {
        "model": "slow/chat",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": tokens,
    }


@pytest.fixture
def instance_b(redis_url: str) -> Iterator[RunningServer]:
    settings = make_settings(
        providers={"slow": {"kind": "mock", "tokens_per_second": 10, "first_token_ms": 0}},
        journal={"backend": "redis", "url": redis_url, "ttl": 2},
        stream={"heartbeat": HEARTBEAT},
    )
    with serve(create_app(settings)) as running:
        yield running


async def read_some(url: str, payload: dict[str, Any], frames: int) -> list[Any]:
    """POST to ``url``, read the start frame and ``frames`` more, then leave."""
    decoder = SSEDecoder()
    got: list[Any] = []
    async with (
        httpx.AsyncClient(timeout=10) as client,
        client.stream("POST", url + "/api/chat", json=payload) as response,
    ):
        async for chunk in response.aiter_raw():
            got += decoder.feed(chunk)
            if len(got) > frames:
                return got
    return got


def texts(frames: list[Any]) -> str:
    return "".join(orjson.loads(f.data)["text"] for f in frames if f.event == "text")


def stream_id_of(frames: list[Any]) -> str:
    return str(orjson.loads(frames[0].data)["stream_id"])


async def full_text(url: str, tokens: int) -> str:
    async with httpx.AsyncClient(timeout=20) as client:
        response = await client.post(url + "/api/chat", json=body(tokens))
    return texts(SSEDecoder().feed(response.content))


async def test_a_run_started_on_a_resumes_on_b_exactly_once(
    tmp_path: Path, redis_url: str, instance_b: RunningServer
) -> None:
    with serve_process(tmp_path, config(redis_url)) as a:
        seen = await read_some(a.url, body(20), 5)
        stream_id = stream_id_of(seen)
        async with httpx.AsyncClient(timeout=20) as client:
            got = await client.get(
                f"{instance_b.url}/api/chat/{stream_id}/stream",
                headers={"last-event-id": seen[-1].id},
            )
        rest = SSEDecoder().feed(got.content)
        whole = texts(seen) + texts(rest)
        assert whole == await full_text(a.url, 20)  # the mock is deterministic
        assert rest[-1].event == "done"
        ids = [int(f.id.rsplit(".", 1)[1]) for f in [*seen, *rest] if f.id]
        assert ids == sorted(set(ids))


async def test_kill_9_of_the_producer_gives_readers_elsewhere_producer_lost(
    tmp_path: Path, redis_url: str, instance_b: RunningServer
) -> None:
    with serve_process(tmp_path, config(redis_url, tokens_per_second=5)) as a:
        seen = await read_some(a.url, body(200), 2)
        stream_id = stream_id_of(seen)
        decoder = SSEDecoder()
        frames: list[Any] = []
        killed_at = 0.0
        async with (
            httpx.AsyncClient(timeout=20) as client,
            client.stream(
                "GET",
                f"{instance_b.url}/api/chat/{stream_id}/stream",
                headers={"last-event-id": seen[-1].id},
            ) as response,
        ):
            async for chunk in response.aiter_raw():
                frames += decoder.feed(chunk)
                if not killed_at and any(f.event == "text" for f in frames):
                    os.kill(a.proc.pid, signal.SIGKILL)
                    killed_at = time.monotonic()
        noticed = time.monotonic() - killed_at
        errors = [orjson.loads(f.data) for f in frames if f.event == "error"]
        assert [e["code"] for e in errors] == ["producer_lost"]
        assert errors[0]["retryable"] is True
        # two heartbeats from the last renewal, plus generous slack for a busy machine
        assert noticed < 2 * HEARTBEAT + 3.0, noticed


async def test_sigterm_tells_readers_to_go_and_b_serves_the_rest(
    tmp_path: Path, redis_url: str, instance_b: RunningServer
) -> None:
    process: ServeProcess
    with serve_process(tmp_path, config(redis_url, tokens_per_second=10)) as process:
        decoder = SSEDecoder()
        frames: list[Any] = []
        async with (
            httpx.AsyncClient(timeout=20) as client,
            client.stream("POST", process.url + "/api/chat", json=body(20)) as response,
        ):
            chunks = response.aiter_raw()
            async for chunk in chunks:
                frames += decoder.feed(chunk)
                if len([f for f in frames if f.event == "text"]) == 3:
                    process.proc.send_signal(signal.SIGTERM)
                    sent = time.monotonic()
                    break
            async for chunk in chunks:
                frames += decoder.feed(chunk)
        told = time.monotonic() - sent
        last = frames[-1]
        assert last.event == "error" and orjson.loads(last.data)["code"] == "server_shutting_down"
        assert told < 2.0, told
        seen = [f for f in frames if f.id]
        await asyncio.sleep(2.5)  # A's producer finishes the answer within its grace
        assert process.proc.wait(10) == 0
    async with httpx.AsyncClient(timeout=20) as client:
        got = await client.get(
            f"{instance_b.url}/api/chat/{stream_id_of(frames)}/stream",
            headers={"last-event-id": seen[-1].id},
        )
    rest = SSEDecoder().feed(got.content)
    assert rest[-1].event == "done", [f.event for f in rest]
    assert texts(frames) + texts(rest) == await full_text(instance_b.url, 20)
