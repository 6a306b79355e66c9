"""Ollama's native ``/api/chat``: HTTP, NDJSON decoding and batching.

Why native rather than Ollama's OpenAI-compatible ``/v1``: native carries ``thinking`` as its
own field on every model, reports ``done_reason`` and token counts in every stream, and takes
``think`` and ``options`` directly. Per upstream read, every complete line is parsed and the
resulting events are handed over as one batch; a read that ends in a bad line still yields the
events before it. Leaving the ``async with`` (the ``done`` line, an error, or the consumer
closing or cancelling us) closes the upstream response at once.

End of stream: only a ``done`` line completes it. EOF before one, including EOF in the middle of
a line (Ollama ends every line with LF, so an unterminated tail is a cut, never a last object),
raises ``UpstreamDisconnected``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import orjson

from ...chat_stream import ChatStream
from ...errors import (
    AIChatFlowError,
    ConfigError,
    EventTooLarge,
    UpstreamDisconnected,
)
from ...events import ChatEvent, StreamStart
from ...messages import ChatRequest
from ...sse.ndjson import LineTooLarge, NDJSONDecoder
from .._http import UpstreamResponse
from .._http_options import HttpProviderConfig
from .._http_provider import HttpProvider
from ._convert import request_body
from ._events import LineParser

DEFAULT_BASE_URL = "http://127.0.0.1:11434"
"""Where ``ollama serve`` listens by default; it needs no key."""
THINK_LEVELS = frozenset({"low", "medium", "high"})
"""String values of ``think`` (gpt-oss takes a level rather than a boolean)."""


def _think(name: str, value: Any) -> bool | str | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value in THINK_LEVELS:
        return value
    raise ConfigError(f"provider {name!r}: think must be true, false, low, medium or high")


def _parse(
    lines: list[bytes], feed: Callable[[bytes, list[ChatEvent]], bool]
) -> tuple[list[ChatEvent], bool, AIChatFlowError | None]:
    """Events of ``lines``, whether ``done`` was among them, and the error that stopped them."""
    out: list[ChatEvent] = []
    try:
        for line in lines:
            if feed(line, out):
                return out, True, None
    except AIChatFlowError as exc:
        return out, False, exc
    return out, False, None


class OllamaProvider(HttpProvider):
    """Streams chat from an Ollama server's ``/api/chat``."""

    def __init__(self, name: str, options: Mapping[str, Any] | None = None) -> None:
        options = dict(options or {})
        # A local Ollama has no key; a proxy in front of it may want one (api_key_env).
        cfg = HttpProviderConfig.parse(
            name, options, base_url=DEFAULT_BASE_URL, extra=frozenset({"think"})
        )
        super().__init__(
            name,
            cfg,
            accept="application/x-ndjson",
            auth_header="authorization",
            auth_prefix="Bearer ",
        )
        self.url = cfg.base_url + "/api/chat"
        self.think = _think(name, options.get("think"))

    def models_url(self) -> str:
        return self.base_url + "/api/tags"  # the models pulled into this Ollama

    def model_ids(self, payload: dict[str, Any]) -> list[str]:
        return [m["name"] for m in payload["models"] if isinstance(m.get("name"), str)]

    def stream(self, request: ChatRequest) -> ChatStream:
        body = orjson.dumps(request_body(request, think=self.think))

        def attempt() -> AsyncIterator[list[ChatEvent]]:
            return self._attempt(request.model, body)

        return self.retried(attempt)

    async def _attempt(self, model: str, body: bytes) -> AsyncIterator[list[ChatEvent]]:
        secrets = self.secrets
        post = self._http.post(self.url, headers=self._headers, body=body, secrets=secrets)
        async with post as resp:
            yield [StreamStart(model=f"{self.name}/{model}", response_id=uuid.uuid4().hex)]
            async for batch in self._events(resp, LineParser(self.name, secrets)):
                yield batch

    async def _events(
        self, resp: UpstreamResponse, parser: LineParser
    ) -> AsyncIterator[list[ChatEvent]]:
        decoder = NDJSONDecoder(self.max_event_bytes)
        feed = parser.feed
        async for chunk in resp.chunks():
            too_large: EventTooLarge | None = None
            try:
                lines = decoder.feed(chunk)
            except LineTooLarge as exc:
                lines, too_large = exc.partial, EventTooLarge(exc.limit)
            if not lines and too_large is None:
                continue
            out, done, error = _parse(lines, feed)
            if out:  # what arrived before a bad or oversized line in the same read still counts
                yield out
            if done:
                return
            if error is not None:
                raise error
            if too_large is not None:
                raise too_large
        where = "in the middle of a line" if decoder.pending else "before the done line"
        raise UpstreamDisconnected(
            f"{self.name}: upstream closed the stream {where}", provider=self.name
        )


__all__ = ["DEFAULT_BASE_URL", "THINK_LEVELS", "OllamaProvider"]
