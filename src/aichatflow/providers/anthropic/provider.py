"""The Anthropic Messages provider: ``POST {base_url}/v1/messages`` with ``"stream": true``.

Per upstream read, every complete SSE event is decoded and parsed, and the resulting events are
handed over as one batch. ``StreamStart`` comes from ``message_start`` (it carries the message
id) and ``Finish`` from ``message_stop``; a body that ends before ``message_stop`` is a
disconnect, however much content came before it. Leaving the ``async with`` (normal end, error,
or the consumer closing or cancelling us) closes the upstream response at once, so nothing waits
for the end of a body whose ``message_stop`` has already arrived.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import orjson

from ...errors import (
    AIChatFlowError,
    ConfigError,
    EventTooLarge,
    UpstreamBadResponse,
    UpstreamDisconnected,
    error_from_status,
)
from ...events import ChatEvent
from ...messages import ChatRequest
from ...sse.decode import DEFAULT_MAX_EVENT_BYTES, EventTooLargeWithPartial, SSEDecoder
from ...stream.source import ChatStream
from .._http import HttpClient, HttpOptions, UpstreamResponse
from .._retry import RetryPolicy, retrying
from ._convert import request_body
from ._events import EventParser
from ._message import message_events

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
DEFAULT_MODELS = ("claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1")

_OPTIONS = frozenset(
    {
        "kind",
        "base_url",
        "api_key_env",
        "api_key",
        "models",
        "connect_timeout",
        "read_timeout",
        "max_retries",
        "first_token_timeout",
        "max_event_bytes",
        "headers",
        "max_tokens",
        "thinking_budget",
    }
)


def _positive_int(name: str, provider: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"provider {provider!r}: {name} must be a positive integer")
    return value


class AnthropicProvider:
    """Streams messages from Anthropic's API (or anything that speaks it, such as LiteLLM)."""

    def __init__(self, name: str, options: Mapping[str, Any] | None = None) -> None:
        options = dict(options or {})
        unknown = set(options) - _OPTIONS
        if unknown:
            raise ConfigError(f"provider {name!r}: unknown option(s) {sorted(unknown)}")
        self.name = name
        self.url = str(options.get("base_url") or DEFAULT_BASE_URL).rstrip("/") + "/v1/messages"
        key_env = options.get("api_key_env", "ANTHROPIC_API_KEY")
        self._key = str(
            options.get("api_key") or (os.environ.get(key_env) if key_env else "") or ""
        )
        self._models = tuple(options.get("models") or DEFAULT_MODELS)
        self.max_tokens = _positive_int("max_tokens", name, options.get("max_tokens", 4096))
        budget = options.get("thinking_budget")
        self.thinking_budget = (
            None if budget is None else _positive_int("thinking_budget", name, budget)
        )
        if self.thinking_budget is not None and self.thinking_budget >= self.max_tokens:
            raise ConfigError(f"provider {name!r}: thinking_budget must be below max_tokens")
        self.max_event_bytes = int(options.get("max_event_bytes", DEFAULT_MAX_EVENT_BYTES))
        first_token = options.get("first_token_timeout")
        self.retry = RetryPolicy(
            max_retries=int(options.get("max_retries", 2)),
            attempt_first_token=None if first_token is None else float(first_token),
        )
        self._http = HttpClient(
            name,
            HttpOptions(
                connect_timeout=float(options.get("connect_timeout", 5.0)),
                read_timeout=float(options.get("read_timeout", 60.0)),
            ),
        )
        self._headers = {
            "content-type": "application/json",
            "accept": "text/event-stream",
            "anthropic-version": API_VERSION,
        }
        self._headers.update(options.get("headers") or {})
        if self._key:
            self._headers["x-api-key"] = self._key

    @property
    def models(self) -> Sequence[str]:
        return self._models

    def stream(self, request: ChatRequest) -> ChatStream:
        data = request_body(
            request, max_tokens=self.max_tokens, thinking_budget=self.thinking_budget
        )
        body = orjson.dumps(data)
        model = f"{self.name}/{request.model}"

        def attempt() -> AsyncIterator[list[ChatEvent]]:
            return self._attempt(model, body)

        return ChatStream(retrying(self.retry, attempt, provider=self.name))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _attempt(self, model: str, body: bytes) -> AsyncIterator[list[ChatEvent]]:
        secrets = (self._key,) if self._key else ()
        parser = EventParser(self.name, model, secrets)
        async with self._http.stream("POST", self.url, headers=self._headers, body=body) as resp:
            if resp.status != 200:
                raw = await resp.read(self._http.options.max_error_body)
                raise error_from_status(
                    resp.status, raw, resp.headers, provider=self.name, secrets=secrets
                )
            if "event-stream" not in resp.headers.get("content-type", "text/event-stream"):
                yield message_events(await self._whole(resp), parser)
                return
            async for batch in self._events(resp, parser):
                yield batch

    async def _events(
        self, resp: UpstreamResponse, parser: EventParser
    ) -> AsyncIterator[list[ChatEvent]]:
        decoder = SSEDecoder(self.max_event_bytes)
        feed = parser.feed
        async for chunk in resp.chunks():
            try:
                sse_events = decoder.feed(chunk)
            except EventTooLargeWithPartial as exc:
                out: list[ChatEvent] = []
                for sse in exc.partial:
                    feed(sse.event, sse.data, out)
                if out:
                    yield out
                raise EventTooLarge(exc.limit) from None
            if not sse_events:
                continue
            out = []
            try:
                for sse in sse_events:
                    if feed(sse.event, sse.data, out):
                        yield out
                        return
            except AIChatFlowError:
                if out:  # what arrived before the bad event in the same read still counts
                    yield out
                raise
            if out:
                yield out
        raise UpstreamDisconnected(
            f"{self.name}: upstream closed the stream before message_stop", provider=self.name
        )

    async def _whole(self, resp: UpstreamResponse) -> Any:
        raw = await resp.read(self.max_event_bytes + 1)
        if len(raw) > self.max_event_bytes:
            raise EventTooLarge(self.max_event_bytes)
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise UpstreamBadResponse(
                f"{self.name}: upstream sent neither an event stream nor a message",
                provider=self.name,
            ) from None


__all__ = ["API_VERSION", "DEFAULT_BASE_URL", "AnthropicProvider"]
