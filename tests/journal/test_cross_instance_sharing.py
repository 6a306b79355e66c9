"""Two instances on one Redis journal share what they can: identical deterministic requests
sent to both are answered by one upstream call, and a Stop sent to the instance that does not
produce a run stops it for everyone."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from aichatflow.server import create_app
from aichatflow.sse import SSEDecoder
from tests.conftest import make_settings
from tests.journal.test_resume_native import FULL, slow_stream
from tests.support.server import RunningServer, serve
from tests.support.upstream import FakeUpstream, Script

BODY = {"model": "up/m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}


@pytest.fixture
def pair(fake: FakeUpstream, redis_url: str) -> Iterator[tuple[RunningServer, RunningServer]]:
    settings = make_settings(
        providers={"up": fake.openai_provider("m")},
        journal={"backend": "redis", "url": redis_url},
        stream={"heartbeat": 0.5},
    )
    with serve(create_app(settings)) as a, serve(create_app(settings)) as b:
        yield a, b


def texts(frames: list[Any]) -> str:
    return "".join(orjson.loads(f.data)["text"] for f in frames if f.event == "text")


async def test_identical_requests_on_two_instances_share_one_upstream_call(
    pair: tuple[RunningServer, RunningServer], fake: FakeUpstream
) -> None:
    fake.queue(*[Script(slow_stream(0.05)) for _ in range(10)])
    a, b = pair
    async with httpx.AsyncClient(timeout=20) as client:
        decoder = SSEDecoder()
        first: list[Any] = []
        async with client.stream("POST", a.url + "/api/chat", json=BODY) as response:
            chunks = response.aiter_raw()
            async for chunk in chunks:
                first += decoder.feed(chunk)
                if any(f.event == "text" for f in first):
                    break  # the run is live: the others join it, here and there
            others = asyncio.gather(
                *(client.post((a if i % 2 else b).url + "/api/chat", json=BODY) for i in range(9))
            )
            async for chunk in chunks:
                first += decoder.feed(chunk)
            responses = await others
    assert fake.attempts == 1
    assert texts(first) == FULL and first[-1].event == "done"
    for joined in responses:
        frames = SSEDecoder().feed(joined.content)
        assert texts(frames) == FULL and frames[-1].event == "done"
        assert joined.headers.get("x-aichatflow-shared") == "joined"


async def test_stop_sent_to_the_other_instance_stops_the_run(
    pair: tuple[RunningServer, RunningServer], fake: FakeUpstream
) -> None:
    fake.queue(Script(slow_stream(0.15)))
    a, b = pair
    decoder = SSEDecoder()
    frames: list[Any] = []
    async with httpx.AsyncClient(timeout=20) as client:
        body = {**BODY, "temperature": 0.5}
        async with client.stream("POST", a.url + "/api/chat", json=body) as response:
            async for chunk in response.aiter_raw():
                frames += decoder.feed(chunk)
                if sum(f.event == "text" for f in frames) == 2:
                    stream_id = orjson.loads(frames[0].data)["stream_id"]
                    stopped = await client.post(f"{b.url}/api/chat/{stream_id}/stop")
                    assert stopped.json()["stopped"] is True
    last = orjson.loads(frames[-1].data)
    assert frames[-1].event == "done" and last["finish_reason"] == "cancelled"
    assert texts(frames) != FULL and FULL.startswith(texts(frames))
    assert fake.wait_all_finished(5)  # the upstream was closed
