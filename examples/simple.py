"""The seed's "simple" demo, keyless: a producer writes to an output channel, the browser
sees the words arrive one by one.

    python examples/simple.py            # then: curl -N -X POST http://127.0.0.1:8080/stream
"""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from aichatflow import EventStreamResponse, Output, StreamHandler


async def producer(output: Output) -> None:
    words = "Hello from aichatflow: each word is one event on the stream."
    for word in words.split():
        await output.send(word + " ")
        await asyncio.sleep(0.1)


async def stream(request: Request) -> EventStreamResponse:
    return StreamHandler(model="demo/simple").stream(producer)


app = Starlette(routes=[Route("/stream", stream, methods=["POST"])])

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8080)
