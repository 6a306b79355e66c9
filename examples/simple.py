"""The original aiChatFlow "simple" demo, keyless: a producer writes to an output channel, the
browser sees the words arrive one by one.

    .venv/bin/python examples/simple.py      # then: curl -N -X POST http://127.0.0.1:8081/stream

Run it with the project's venv (``scripts/serve.sh`` or ``scripts/test.sh`` makes ``.venv``):
the system ``python`` has no Starlette. It listens on 8081, not 8080, so it runs next to
``aichatflow serve``; ``PORT=9000 .venv/bin/python examples/simple.py`` picks another.
"""

from __future__ import annotations

import asyncio
import os

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

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8081")))
