"""A small SSE client for tests: httpx streaming plus aichatflow's own decoder."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from aichatflow.sse import ServerSentEvent, SSEDecoder


@dataclass
class Received:
    status: int
    headers: httpx.Headers
    events: list[ServerSentEvent] = field(default_factory=list)
    raw: bytes = b""
    arrival: list[float] = field(default_factory=list)
    """time.monotonic() at which each event was decoded."""

    def names(self) -> list[str]:
        return [e.event for e in self.events]

    def data(self, name: str) -> list[dict[str, Any]]:
        return [orjson.loads(e.data) for e in self.events if e.event == name]

    def text(self, name: str = "text") -> str:
        return "".join(d["text"] for d in self.data(name))

    def terminal(self) -> list[ServerSentEvent]:
        return [e for e in self.events if e.event in ("done", "error")]


async def stream_chat(
    url: str, body: dict[str, Any], *, path: str = "/api/chat", timeout: float = 15.0
) -> Received:
    """POST and read the whole event stream (or the error body)."""
    decoder = SSEDecoder()
    async with (
        httpx.AsyncClient(timeout=timeout) as client,
        client.stream("POST", url + path, json=body) as response,
    ):
        received = Received(response.status_code, response.headers)
        raw = bytearray()
        async for chunk in response.aiter_raw():
            raw += chunk
            now = time.monotonic()
            for event in decoder.feed(chunk):
                received.events.append(event)
                received.arrival.append(now)
        received.raw = bytes(raw)
    return received


def user(text: str = "hi") -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]
