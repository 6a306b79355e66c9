"""Baseline ``uvicorn_raw``: the least a Python server can do to stream the same SSE frames.

A plain ASGI callable on uvicorn (uvloop + httptools), no framework, no provider, no per-stream
task. It answers ``POST`` with the same headers and the same frames as aichatflow's native
protocol for the mock model (``start``, one ``text`` frame per token, ``done``), built the same
way (``id`` prefix and an orjson-encoded token per frame), so byte counts and per-event encoding
work match and the ratio aichatflow / baseline isolates aichatflow's own overhead.

``?coalesce=N`` joins N frames per ``send`` (``uvicorn_raw_coalesce`` in docs/benchmarks.md: what
writing everything available in one write buys when the events are all ready). The default, 1,
is one ``send`` per event like ``uvicorn_raw`` there and the Go design. ``?delay_ms=N`` waits N ms
before the first token (the ttfe and memory scenarios keep streams idle that way).
``?interval_ms=N`` paces the tokens like a model at 1000/N tokens/s (the paced scenario), on a
schedule: token i is due at t0 + i*N ms; the loop sleeps until a token is due and sends a late
one at once, still one ``send`` per event.

Run: ``python benchmarks/baselines/uvicorn_raw.py --port 8090``
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
_TEXT = b'id: %s.%d\nevent: text\ndata: {"text":%s}\n\n'
_dumps = orjson.dumps
_token_cache: dict[bytes, list[str]] = {}


async def _tokens(body: bytes) -> list[str]:
    """The mock provider's tokens for this request (computed once per distinct body)."""
    tokens = _token_cache.get(body)
    if tokens is None:
        from aichatflow.events import TextDelta
        from aichatflow.messages import ChatRequest
        from aichatflow.providers.mock import MockProvider

        request = ChatRequest.model_validate(orjson.loads(body))
        request = request.model_copy(update={"model": request.model.partition("/")[2]})
        provider = MockProvider("baseline", {"tokens_per_second": 0, "first_token_ms": 0})
        tokens = [e.text async for e in provider.stream(request) if isinstance(e, TextDelta)]
        _token_cache[body] = tokens
    return tokens


def _query(scope: Scope, name: bytes, default: float) -> float:
    for part in scope.get("query_string", b"").split(b"&"):
        key, _, value = part.partition(b"=")
        if key == name:
            return float(value)
    return default


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    tokens = await _tokens(body)
    n = max(1, int(_query(scope, b"coalesce", 1)))
    delay = _query(scope, b"delay_ms", 0) / 1000.0
    interval = _query(scope, b"interval_ms", 0) / 1000.0
    sid = secrets.token_urlsafe(12).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [*_HEADERS]})
    start = _dumps({"stream_id": sid.decode(), "model": "fast/x"})
    opening = b"retry: 2000\nid: %s.0\nevent: start\ndata: %s\n\n" % (sid, start)
    await send({"type": "http.response.body", "body": opening, "more_body": True})
    seq = 0
    if delay:
        await asyncio.sleep(delay)
    if interval:
        clock = asyncio.get_running_loop().time
        t0 = clock()
        for i, token in enumerate(tokens):
            wait = t0 + i * interval - clock()
            if wait > 0:
                await asyncio.sleep(wait)
            seq += 1
            frame = _TEXT % (sid, seq, _dumps(token))
            await send({"type": "http.response.body", "body": frame, "more_body": True})
    elif n == 1:
        for token in tokens:
            seq += 1
            frame = _TEXT % (sid, seq, _dumps(token))
            await send({"type": "http.response.body", "body": frame, "more_body": True})
    else:
        for i in range(0, len(tokens), n):
            frames = []
            for token in tokens[i : i + n]:
                seq += 1
                frames.append(_TEXT % (sid, seq, _dumps(token)))
            await send({"type": "http.response.body", "body": b"".join(frames), "more_body": True})
    usage = {"input_tokens": 1, "output_tokens": len(tokens)}
    done = _dumps({"finish_reason": "length", "usage": usage})
    last = b"id: %s.%d\nevent: done\ndata: %s\n\n" % (sid, seq + 1, done)
    await send({"type": "http.response.body", "body": last, "more_body": False})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8090)
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
