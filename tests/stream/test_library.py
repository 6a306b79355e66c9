"""aichatflow embedded in someone else's app: Starlette and FastAPI routes, the seed's
producer API (``StreamHandler`` / ``Output``), the raw ``SSEWriter``, and shutdown."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from aichatflow import (
    ChatRequest,
    EventStreamResponse,
    MockProvider,
    Output,
    SSEWriter,
    StreamHandler,
    StreamLimits,
)
from aichatflow.errors import UpstreamOverloaded
from aichatflow.sse import SSEDecoder
from tests.support.client import stream_chat, user
from tests.support.server import serve


async def hello(output: Output) -> None:
    await output.reasoning("thinking")
    for word in ["Hello", ",", " world"]:
        await output.send(word)


def _starlette(route: Any) -> Starlette:
    return Starlette(routes=[Route("/s", route, methods=["POST"])])


async def test_stream_handler_producer_api() -> None:
    async def route(request: Request) -> EventStreamResponse:
        return StreamHandler(model="demo").stream(hello)

    with serve(_starlette(route)) as server:
        got = await stream_chat(server.url, {}, path="/s")
    names = got.names()
    # How many frames the deltas fill depends on how fast the producer ran ahead (queued deltas
    # leave together): the order and the text may not vary.
    assert names[0] == "start" and names[-1] == "done"
    assert names[1] == "reasoning" and set(names[2:-1]) == {"text"}
    assert got.text() == "Hello, world"
    assert got.text("reasoning") == "thinking"
    assert got.data("start")[0]["model"] == "demo"
    ids = [e.id for e in got.events]
    seqs = [int(i.rsplit(".", 1)[1]) for i in ids]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert got.data("done")[0]["finish_reason"] == "stop"


async def test_producer_failure_is_one_error_frame() -> None:
    async def failing(output: Output) -> None:
        await output.send("partial")
        raise UpstreamOverloaded("model overloaded")

    async def route(request: Request) -> EventStreamResponse:
        return StreamHandler().stream(failing)

    with serve(_starlette(route)) as server:
        got = await stream_chat(server.url, {}, path="/s")
    assert got.names() == ["start", "text", "error"]
    assert got.data("error")[0]["code"] == "upstream_overloaded"


async def test_client_disconnect_cancels_the_producer() -> None:
    cancelled = asyncio.Event()
    loop_of_server: list[asyncio.AbstractEventLoop] = []

    async def endless(output: Output) -> None:
        loop_of_server.append(asyncio.get_running_loop())
        try:
            while True:
                await output.send("tick ")
                await asyncio.sleep(0.02)
        finally:
            loop_of_server[0].call_soon(cancelled.set)

    async def route(request: Request) -> EventStreamResponse:
        return StreamHandler().stream(endless)

    with serve(_starlette(route)) as server:
        async with (
            httpx.AsyncClient() as client,
            client.stream("POST", server.url + "/s") as response,
        ):
            decoder = SSEDecoder()
            seen = 0
            async for chunk in response.aiter_raw():
                seen += len(decoder.feed(chunk))
                if seen >= 4:
                    break
        closed = time.monotonic()
        deadline = closed + 2
        while not cancelled.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert cancelled.is_set(), "the producer kept running after the client left"


async def test_sse_writer_writes_raw_frames() -> None:
    async def producer(writer: SSEWriter) -> None:
        await writer.comment("connected")
        await writer.write_data("plain")
        await writer.write_event("update", "line one\nline two", id="7")

    async def route(request: Request) -> EventStreamResponse:
        return StreamHandler().stream_sse(producer)

    with serve(_starlette(route)) as server:
        got = await stream_chat(server.url, {}, path="/s")
    assert [(e.event, e.data, e.id) for e in got.events] == [
        ("message", "plain", ""),
        ("update", "line one\nline two", "7"),
    ]
    assert got.raw.startswith(b"retry: 2000\n\n: connected\n\n")


async def test_fastapi_route_returns_a_provider_stream() -> None:
    app = FastAPI()
    provider = MockProvider("mock", {"tokens_per_second": 0, "first_token_ms": 0})

    @app.post("/chat")
    async def chat(request: Request) -> EventStreamResponse:
        req = ChatRequest.model_validate(await request.json())
        return EventStreamResponse(provider.stream(req), model=req.model)

    with serve(app) as server:
        got = await stream_chat(
            server.url, {"model": "echo", "messages": user("one two three")}, path="/chat"
        )
    assert got.status == 200
    assert got.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert got.headers["x-accel-buffering"] == "no"
    assert got.text() == "one two three"
    assert got.names()[-1] == "done"


async def test_shutdown_ends_live_streams_with_a_retryable_error() -> None:
    provider = MockProvider("mock", {"tokens_per_second": 20, "first_token_ms": 0})

    async def route(request: Request) -> EventStreamResponse:
        req = ChatRequest(model="chat", messages=[{"role": "user", "content": "x"}])  # type: ignore[list-item]
        return EventStreamResponse(provider.stream(req), limits=StreamLimits(heartbeat=1))

    with serve(_starlette(route)) as server:
        streams = [asyncio.create_task(stream_chat(server.url, {}, path="/s")) for _ in range(3)]
        await asyncio.sleep(0.5)
        t0 = time.monotonic()
        server.server.should_exit = True
        results = await asyncio.wait_for(asyncio.gather(*streams), 5)
        took = time.monotonic() - t0
    for got in results:
        assert got.names()[-1] == "error"
        error = got.data("error")[0]
        assert error["code"] == "server_shutting_down"
        assert error["retryable"] is True
        assert len(got.terminal()) == 1
    assert took < 2.0
