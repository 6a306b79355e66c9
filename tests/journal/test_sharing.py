"""Stop, continue-after-disconnect, in-flight de-duplication and the cache, over real sockets
with the memory journal: what one upstream call serves, and who may share it."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from aichatflow.server import create_app
from aichatflow.sse import SSEDecoder
from tests.conftest import make_settings
from tests.journal.test_resume_native import FULL, TOKENS, first_frames, slow_stream
from tests.support.openai_chunks import openai_stream
from tests.support.server import RunningServer, serve
from tests.support.upstream import FakeUpstream, Script


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


KEYS = [{"id": "a", "sha256": sha("key-a")}, {"id": "b", "sha256": sha("key-b")}]
A = {"authorization": "Bearer key-a"}
B = {"authorization": "Bearer key-b"}


def body(temperature: float | None = 0, path: str = "/api/chat") -> dict[str, Any]:
    out: dict[str, Any] = {"model": "up/m", "messages": [{"role": "user", "content": "hi"}]}
    if temperature is not None:
        out["temperature"] = temperature
    if path == "/v1/chat/completions":
        out["stream"] = True
    return out


@pytest.fixture
def make_server(fake: FakeUpstream) -> Iterator[Any]:
    started: list[Any] = []

    def start(**overrides: Any) -> RunningServer:
        data: dict[str, Any] = {
            "providers": {"up": fake.openai_provider("m")},
            "journal": {"backend": "memory"},
            "auth": {"keys": KEYS},
        }
        data.update(overrides)
        cm = serve(create_app(make_settings(**data)))
        started.append(cm)
        return cm.__enter__()

    yield start
    for cm in reversed(started):
        cm.__exit__(None, None, None)


async def read_all(
    client: httpx.AsyncClient, url: str, payload: dict[str, Any], headers: dict[str, str]
) -> tuple[httpx.Response, list[Any]]:
    async with client.stream("POST", url, json=payload, headers=headers) as response:
        raw = await response.aread()
    return response, SSEDecoder().feed(raw)


def text_of(frames: list[Any]) -> str:
    return "".join(orjson.loads(f.data)["text"] for f in frames if f.event == "text")


def metric(url: str, series: str) -> float:
    text = httpx.get(url + "/metrics", headers=A, timeout=10).text
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{series} not in /metrics")


async def test_twenty_identical_deterministic_requests_share_one_upstream_call(
    make_server: Any, fake: FakeUpstream
) -> None:
    fake.queue(*[Script(slow_stream(0.05)) for _ in range(20)])
    server = make_server()
    async with httpx.AsyncClient(timeout=20) as client:
        results = await asyncio.gather(
            *[read_all(client, server.url + "/api/chat", body(), A) for _ in range(20)]
        )
    assert fake.attempts == 1
    for response, frames in results:
        assert response.status_code == 200
        assert text_of(frames) == FULL
        assert [f.event for f in frames if f.event in ("done", "error")] == ["done"]
    shared = [r for r, _ in results if r.headers.get("x-aichatflow-shared") == "joined"]
    assert len(shared) == 19
    starts = [orjson.loads(frames[0].data) for _, frames in results]
    assert len({s["stream_id"] for s in starts}) == 1
    assert sum(1 for s in starts if s.get("shared")) == 19
    assert metric(server.url, 'aichatflow_shared_streams_total{kind="joined"}') == 19


async def test_a_reader_leaving_does_not_stop_the_others(
    make_server: Any, fake: FakeUpstream
) -> None:
    fake.queue(Script(slow_stream(0.08)), Script(slow_stream(0.08)))
    server = make_server()
    async with httpx.AsyncClient(timeout=20) as client:
        whole = asyncio.create_task(read_all(client, server.url + "/api/chat", body(), A))
        await asyncio.sleep(0.1)
        # a second identical request reads two frames and leaves
        async with client.stream("POST", server.url + "/api/chat", json=body(), headers=A) as r:
            assert r.headers.get("x-aichatflow-shared") == "joined"
            async for _ in r.aiter_raw():
                break
        _, frames = await whole
    assert text_of(frames) == FULL and frames[-1].event == "done"
    assert fake.attempts == 1


@pytest.mark.parametrize("case", ["sampled", "other_key", "dedup_off"])
async def test_what_is_never_shared(make_server: Any, fake: FakeUpstream, case: str) -> None:
    fake.queue(Script(slow_stream(0.05)), Script(slow_stream(0.05)))
    server = make_server(**({"dedup": {"mode": "off"}} if case == "dedup_off" else {}))
    first = body(0.7 if case == "sampled" else 0)
    second_headers = B if case == "other_key" else A
    async with httpx.AsyncClient(timeout=20) as client:
        (r1, f1), (r2, f2) = await asyncio.gather(
            read_all(client, server.url + "/api/chat", first, A),
            read_all(client, server.url + "/api/chat", first, second_headers),
        )
    assert fake.attempts == 2
    assert "x-aichatflow-shared" not in r1.headers and "x-aichatflow-shared" not in r2.headers
    assert text_of(f1) == text_of(f2) == FULL


async def test_always_mode_shares_sampled_requests(make_server: Any, fake: FakeUpstream) -> None:
    fake.queue(Script(slow_stream(0.05)), Script(slow_stream(0.05)))
    server = make_server(dedup={"mode": "always"})
    async with httpx.AsyncClient(timeout=20) as client:
        await asyncio.gather(
            *[read_all(client, server.url + "/api/chat", body(0.7), A) for _ in range(2)]
        )
    assert fake.attempts == 1


@pytest.mark.parametrize("path", ["/api/chat", "/v1/chat/completions"])
async def test_cache_replays_a_finished_answer_without_the_upstream(
    make_server: Any, fake: FakeUpstream, path: str
) -> None:
    fake.queue(Script(openai_stream(TOKENS)), Script(openai_stream(TOKENS)))
    server = make_server(cache={"ttl": 60})
    async with httpx.AsyncClient(timeout=20) as client:
        r1, f1 = await read_all(client, server.url + path, body(path=path), A)
        r2, f2 = await read_all(client, server.url + path, body(path=path), A)
        r3, _ = await read_all(client, server.url + path, body(path=path), B)  # not B's cache
    assert fake.attempts == 2
    assert "x-aichatflow-cache" not in r1.headers
    assert r2.headers["x-aichatflow-cache"] == "hit"
    assert metric(server.url, 'aichatflow_shared_streams_total{kind="cache_hit"}') == 1
    assert "x-aichatflow-cache" not in r3.headers
    if path == "/api/chat":
        assert orjson.loads(f2[0].data)["cached"] is True
        assert text_of(f2) == text_of(f1) == FULL
    else:
        chunks = [orjson.loads(f.data) for f in f2 if f.data != "[DONE]"]
        text = "".join(
            c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]
        )
        assert text == FULL and f2[-1].data == "[DONE]"


class Follower:
    """Reads a POSTed stream in the background, keeping its frames as they arrive."""

    def __init__(self, client: httpx.AsyncClient, url: str, payload: dict[str, Any]) -> None:
        self.frames: list[Any] = []
        self.task = asyncio.create_task(self._read(client, url, payload))

    async def _read(self, client: httpx.AsyncClient, url: str, payload: dict[str, Any]) -> None:
        decoder = SSEDecoder()
        async with client.stream("POST", url, json=payload, headers=A) as response:
            async for chunk in response.aiter_raw():
                self.frames += decoder.feed(chunk)

    async def stream_id(self) -> str:
        for _ in range(250):
            if self.frames:
                return str(orjson.loads(self.frames[0].data)["stream_id"])
            await asyncio.sleep(0.02)
        raise AssertionError("no start frame")


async def test_stop_ends_the_run_for_every_reader_keeping_the_partial_answer(
    make_server: Any, fake: FakeUpstream
) -> None:
    fake.queue(Script(slow_stream(0.15)))
    server = make_server()
    async with httpx.AsyncClient(timeout=20) as client:
        follower = Follower(client, server.url + "/api/chat", body(None))
        stream_id = await follower.stream_id()
        await asyncio.sleep(0.5)
        stopped = await client.post(server.url + f"/api/chat/{stream_id}/stop", headers=A)
        assert stopped.status_code == 200 and stopped.json()["stopped"] is True
        await asyncio.wait_for(follower.task, 5)
        frames = follower.frames
        done = orjson.loads(frames[-1].data)
        assert frames[-1].event == "done" and done["finish_reason"] == "cancelled"
        partial = text_of(frames)
        assert partial and FULL.startswith(partial) and partial != FULL
        # a reader that comes later gets the same partial answer and the same end
        again = await client.get(server.url + f"/api/chat/{stream_id}/stream", headers=A)
        replay = SSEDecoder().feed(again.content)
        assert text_of(replay) == partial and replay[-1].event == "done"
        twice = await client.post(server.url + f"/api/chat/{stream_id}/stop", headers=A)
        assert twice.json()["stopped"] is False
    assert fake.wait_all_finished(5)  # the upstream response was closed


@pytest.mark.parametrize("policy", ["continue", "cancel"])
async def test_closing_the_tab_continues_or_cancels_as_configured(
    make_server: Any, fake: FakeUpstream, policy: str
) -> None:
    fake.queue(Script(slow_stream(0.1)))
    server = make_server(stream={"on_disconnect": policy})
    seen = await first_frames(server.url, 2, body(None), A)  # three frames, then leaves
    stream_id = orjson.loads(seen[0].data)["stream_id"]
    async with httpx.AsyncClient(timeout=20) as client:
        if policy == "continue":
            await asyncio.sleep(1.5)  # the run finishes on its own
            again = await client.get(
                server.url + f"/api/chat/{stream_id}/stream",
                headers={**A, "last-event-id": seen[-1].id},
            )
            rest = SSEDecoder().feed(again.content)
            assert text_of(seen) + text_of(rest) == FULL
            assert rest[-1].event == "done"
            assert orjson.loads(rest[-1].data)["finish_reason"] == "stop"
        else:
            assert fake.wait_all_finished(5)  # upstream closed when the last reader left
            await asyncio.sleep(0.2)
            again = await client.get(server.url + f"/api/chat/{stream_id}/stream", headers=A)
            replay = SSEDecoder().feed(again.content)
            assert orjson.loads(replay[-1].data)["finish_reason"] == "cancelled"
            assert text_of(replay) != FULL
