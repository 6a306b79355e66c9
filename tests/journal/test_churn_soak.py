"""T38, bounded for CI: churn on the Redis journal. Streams start at a steady rate; 30 % of
the clients drop early and half of those resume by ``Last-Event-ID``. Every resumed stream has
no gap and no duplicate, and once the runs' time is over Redis holds none of their keys and the
process holds no more descriptors than before. The ten-minute version is a manual run:
``AICHATFLOW_SOAK_SECONDS=600 pytest tests/journal/test_churn_soak.py`` (docs/testing.md)."""

from __future__ import annotations

import asyncio
import os
import random
from typing import Any

import httpx
import orjson

from aichatflow.redis_client import redis_client
from aichatflow.server import create_app
from aichatflow.sse import SSEDecoder
from tests.conftest import make_settings
from tests.support.server import serve

SECONDS = float(os.environ.get("AICHATFLOW_SOAK_SECONDS", "12"))
RATE = float(os.environ.get("AICHATFLOW_SOAK_RATE", "20"))
"""New streams per second (the manual run may raise it with ``AICHATFLOW_SOAK_RATE``)."""
TTL = 1.0
TOKENS = 12
PACED = {"kind": "mock", "tokens_per_second": 40, "first_token_ms": 0}
BODY = {
    "model": "paced/chat",
    "messages": [{"role": "user", "content": "hi"}],
    "max_tokens": TOKENS,
}


def texts(frames: list[Any]) -> str:
    return "".join(orjson.loads(f.data)["text"] for f in frames if f.event == "text")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def redis_clients(url: str) -> int:
    """Connections Redis has open: the journal's pools keep some (bounded by their sizes)."""
    client = redis_client(url)
    try:
        return len(await client.client_list())
    finally:
        await client.aclose()


async def run_keys(url: str) -> int:
    client = redis_client(url)
    try:
        return len([k async for k in client.scan_iter(match="aichatflow:{*", count=1000)])
    finally:
        await client.aclose()


async def one(client: httpx.AsyncClient, url: str, fate: str, full: str) -> str:
    """A client: reads everything (``whole``), leaves after its first token (``drop``), or
    leaves and resumes (``resume``). Returns what went wrong, or ""."""
    decoder = SSEDecoder()
    frames: list[Any] = []
    async with client.stream("POST", url + "/api/chat", json=BODY) as response:
        async for chunk in response.aiter_raw():
            frames += decoder.feed(chunk)
            if fate != "whole" and any(f.event == "text" for f in frames):
                break
    if fate == "drop":
        return ""
    if fate == "resume":
        await asyncio.sleep(random.uniform(0.0, 0.3))
        stream_id = orjson.loads(frames[0].data)["stream_id"]
        got = await client.get(
            f"{url}/api/chat/{stream_id}/stream", headers={"last-event-id": frames[-1].id}
        )
        frames += SSEDecoder().feed(got.content)
    ids = [int(f.id.rpartition(".")[2]) for f in frames if f.id]
    if ids != sorted(set(ids)):
        return f"{fate}: ids not strictly increasing: {ids}"
    if texts(frames) != full or frames[-1].event != "done":
        return f"{fate}: {texts(frames)!r} != {full!r}"
    return ""


async def test_churn_on_the_redis_journal_leaves_nothing_behind(redis_url: str) -> None:
    settings = make_settings(
        providers={"paced": PACED},
        journal={"backend": "redis", "url": redis_url, "ttl": TTL},
        stream={"heartbeat": 1},
    )
    rng = random.Random(38)
    with serve(create_app(settings)) as server:
        url = server.url
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            reference = await client.post(url + "/api/chat", json=BODY)
            full = texts(SSEDecoder().feed(reference.content))
            await asyncio.sleep(2 * TTL + 0.5)
            keys_before = await run_keys(redis_url)
            fds_before = open_fds() - await redis_clients(redis_url)
            clients: list[asyncio.Task[str]] = []
            loop = asyncio.get_running_loop()
            end = loop.time() + SECONDS
            while loop.time() < end:
                roll = rng.random()
                fate = "whole" if roll >= 0.3 else ("drop" if roll < 0.15 else "resume")
                clients.append(asyncio.create_task(one(client, url, fate, full)))
                await asyncio.sleep(1 / RATE)
            problems = [p for p in await asyncio.gather(*clients) if p]
        assert problems == [], problems[:5]
        assert len(clients) >= SECONDS * RATE * 0.5
        await asyncio.sleep(2 * TTL + 1.5)  # entries, then descriptions, expire
        assert await run_keys(redis_url) <= keys_before
        # descriptors other than the pooled Redis connections (every client of this test's
        # Redis is in this process) are back where they were
        assert open_fds() - await redis_clients(redis_url) <= fds_before + 5
