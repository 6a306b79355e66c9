"""The Anthropic Messages provider: ``POST {base_url}/v1/messages`` with ``"stream": true``.

Per upstream read, every complete SSE event is decoded and parsed, and the resulting events are
handed over as one batch. ``StreamStart`` comes from ``message_start`` (it carries the message
id) and ``Finish`` from ``message_stop``; a body that ends before ``message_stop`` is a
disconnect, however much content came before it. Leaving the ``async with`` (normal end, error,
or the consumer closing or cancelling us) closes the upstream response at once, so nothing waits
for the end of a body whose ``message_stop`` has already arrived.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from ...chat_stream import ChatStream
from ...errors import (
    ConfigError,
    EventTooLarge,
    UpstreamBadResponse,
    UpstreamDisconnected,
)
from ...events import ChatEvent
from ...messages import ChatRequest
from ...sse.decode import SSEDecoder
from .._http import UpstreamResponse
from .._http_options import HttpProviderConfig
from .._http_provider import HttpProvider
from .._sse_batches import SSEBatches
from ._convert import request_body
from ._events import EventParser
from ._message import message_events

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
DEFAULT_MODELS = ("claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1")


def _positive_int(name: str, provider: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"provider {provider!r}: {name} must be a positive integer")
    return value


class AnthropicProvider(HttpProvider):
    """Streams messages from Anthropic's API (or anything that speaks it, such as LiteLLM)."""

    def __init__(self, name: str, options: Mapping[str, Any] | None = None) -> None:
        options = dict(options or {})
        cfg = HttpProviderConfig.parse(
            name,
            options,
            base_url=DEFAULT_BASE_URL,
            key_envs=("ANTHROPIC_API_KEY",),
            models=DEFAULT_MODELS,
            extra=frozenset({"max_tokens", "thinking_budget"}),
        )
        super().__init__(
            name,
            cfg,
            accept="text/event-stream",
            auth_header="x-api-key",
            headers={"anthropic-version": API_VERSION},
        )
        self.url = cfg.base_url + "/v1/messages"
        self.max_tokens = _positive_int("max_tokens", name, options.get("max_tokens", 4096))
        budget = options.get("thinking_budget")
        self.thinking_budget = (
            None if budget is None else _positive_int("thinking_budget", name, budget)
        )
        if self.thinking_budget is not None and self.thinking_budget >= self.max_tokens:
            raise ConfigError(f"provider {name!r}: thinking_budget must be below max_tokens")

    def models_url(self) -> str:
        return self.base_url + "/v1/models?limit=1000"  # ``data[].id``, as OpenAI's

    def stream(self, request: ChatRequest) -> ChatStream:
        data = request_body(
            request, max_tokens=self.max_tokens, thinking_budget=self.thinking_budget
        )
        body = orjson.dumps(data)
        model = f"{self.name}/{request.model}"

        def attempt() -> AsyncIterator[list[ChatEvent]]:
            return self._attempt(model, body)

        return self.retried(attempt)

    async def _attempt(self, model: str, body: bytes) -> AsyncIterator[list[ChatEvent]]:
        secrets = self.secrets
        parser = EventParser(self.name, model, secrets)
        post = self._http.post(self.url, headers=self._headers, body=body, secrets=secrets)
        async with post as resp:
            if "event-stream" not in resp.headers.get("content-type", "text/event-stream"):
                yield message_events(await self._whole(resp), parser)
                return
            async for batch in self._events(resp, parser):
                yield batch

    async def _events(
        self, resp: UpstreamResponse, parser: EventParser
    ) -> AsyncIterator[list[ChatEvent]]:
        feed = parser.feed
        reader = SSEBatches(
            SSEDecoder(self.max_event_bytes), lambda sse, out: feed(sse.event, sse.data, out)
        )
        async for batch in reader.over(resp.chunks()):
            yield batch
        if not reader.done:
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
