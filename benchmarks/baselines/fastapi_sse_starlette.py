"""Baseline ``fastapi_sse_starlette``: the naive FastAPI + sse-starlette version of the endpoint.

What most people would write first: a FastAPI route that reads the JSON body, an async generator
yielding one dict per event with ``json.dumps`` data, wrapped in sse-starlette's
``EventSourceResponse`` (which runs a task group with ping and disconnect-watch tasks per
response). Same frames as ``uvicorn_raw.py`` (``start``, one ``text`` frame per token, ``done``;
``sep="\\n"`` so frames end in ``\\n\\n`` like the others), the same tokens (the mock provider's),
one uvicorn worker with uvloop + httptools.

``?delay_ms=N`` waits N ms before the first token (the ttfe and memory scenarios).

Needs ``fastapi`` and ``sse-starlette`` (dev extras). Run:
``python benchmarks/baselines/fastapi_sse_starlette.py --port 8092``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from sse_starlette import EventSourceResponse
from uvicorn_raw import _tokens

app = FastAPI()


@app.post("/api/chat")
async def chat(request: Request, delay_ms: float = 0) -> EventSourceResponse:
    raw = await request.body()
    tokens = await _tokens(raw)
    sid = secrets.token_urlsafe(12)

    async def events() -> AsyncIterator[dict[str, Any]]:
        start = json.dumps({"stream_id": sid, "model": "fast/x"})
        yield {"id": f"{sid}.0", "event": "start", "data": start, "retry": 2000}
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)
        seq = 0
        for token in tokens:
            seq += 1
            yield {"id": f"{sid}.{seq}", "event": "text", "data": json.dumps({"text": token})}
        usage = {"input_tokens": 1, "output_tokens": len(tokens)}
        done = json.dumps({"finish_reason": "length", "usage": usage})
        yield {"id": f"{sid}.{seq + 1}", "event": "done", "data": done}

    return EventSourceResponse(events(), sep="\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8092)
    args = ap.parse_args()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
