"""Two instances on one Redis journal behind a real nginx (round robin, default buffering on):
a stream started through nginx on one instance is resumed through nginx on the other, exactly
once, and neither response is buffered by nginx."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from aichatflow.server import create_app
from aichatflow.sse import SSEDecoder
from tests.conftest import make_settings
from tests.support.nginx import Nginx
from tests.support.server import serve

from ._streams import with_header

INSTANCE = b"x-test-instance"
SLOW = {"kind": "mock", "tokens_per_second": 10, "first_token_ms": 0}
BODY = {"model": "slow/chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 20}


def texts(frames: list[Any]) -> str:
    return "".join(orjson.loads(f.data)["text"] for f in frames if f.event == "text")


async def test_a_stream_started_on_one_instance_resumes_on_the_other_through_nginx(
    nginx: Callable[..., Nginx], redis_url: str
) -> None:
    settings = make_settings(
        providers={"slow": SLOW},
        journal={"backend": "redis", "url": redis_url},
        stream={"heartbeat": 1},
    )
    app_a = with_header(create_app(settings), INSTANCE, b"a")
    app_b = with_header(create_app(settings), INSTANCE, b"b")
    with serve(app_a) as a, serve(app_b) as b:
        proxy = nginx([a.port, b.port])
        decoder = SSEDecoder()
        seen: list[Any] = []
        arrivals: list[float] = []
        async with httpx.AsyncClient(base_url=proxy.url, timeout=20, trust_env=False) as client:
            sent = time.monotonic()
            async with client.stream("POST", "/api/chat", json=BODY) as first:
                started_on = first.headers[INSTANCE.decode()]
                async for chunk in first.aiter_raw():
                    for frame in decoder.feed(chunk):
                        seen.append(frame)
                        arrivals.append(time.monotonic())
                    if sum(f.event == "text" for f in seen) >= 4:
                        break
            stream_id = orjson.loads(seen[0].data)["stream_id"]
            resumed = await client.get(
                f"/api/chat/{stream_id}/stream", headers={"last-event-id": seen[-1].id}
            )
            whole = await client.post("/api/chat", json=BODY)  # the same answer, uninterrupted
        assert resumed.status_code == 200
        assert resumed.headers[INSTANCE.decode()] != started_on  # round robin: the other one
        rest = SSEDecoder().feed(resumed.content)
        assert rest[-1].event == "done"
        assert texts(seen) + texts(rest) == texts(SSEDecoder().feed(whole.content))
        ids = [int(f.id.rpartition(".")[2]) for f in [*seen, *rest] if f.id]
        assert ids == sorted(set(ids))
        # not buffered: the start frame at once, then tokens about 100 ms apart as they come
        assert arrivals[0] - sent < 1.0
        text_times = [t for f, t in zip(seen, arrivals, strict=True) if f.event == "text"]
        assert text_times[-1] - text_times[0] > 0.15
