"""One adapter for every OpenAI-compatible server: OpenAI, DeepSeek, vLLM, llama.cpp, LiteLLM.

Per upstream read, every complete SSE event is decoded and parsed, and the resulting events are
handed over as one batch. Leaving the ``async with`` (normal end, error, or the consumer closing
or cancelling us) closes the upstream response at once.
"""

from __future__ import annotations

import os
import uuid
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
from ...events import ChatEvent, StreamStart
from ...messages import ChatRequest
from ...sse.decode import DEFAULT_MAX_EVENT_BYTES, EventTooLargeWithPartial, SSEDecoder
from ...stream.source import ChatStream
from .._http import HttpClient, HttpOptions, UpstreamResponse
from .._retry import RetryPolicy, retrying
from ._chunks import ChunkParser
from ._completion import completion_events
from ._convert import request_body
from .profiles import Profile

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
    }
)


class OpenAICompatProvider:
    """Streams chat completions from an OpenAI-compatible ``base_url``."""

    def __init__(self, name: str, profile: Profile, options: Mapping[str, Any] | None = None):
        options = dict(options or {})
        unknown = set(options) - _OPTIONS
        if unknown:
            raise ConfigError(f"provider {name!r}: unknown option(s) {sorted(unknown)}")
        base_url = options.get("base_url") or profile.base_url
        if not base_url:
            raise ConfigError(f"provider {name!r}: base_url is required for kind {profile.kind!r}")
        self.name = name
        self.profile = profile
        self.url = str(base_url).rstrip("/") + "/chat/completions"
        key_env = options.get("api_key_env", profile.api_key_env)
        self._key: str = str(
            options.get("api_key") or (os.environ.get(key_env) if key_env else "") or ""
        )
        self._models = tuple(options.get("models") or profile.models)
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
        self._headers = {"content-type": "application/json", "accept": "text/event-stream"}
        self._headers.update(profile.extra_headers)
        self._headers.update(options.get("headers") or {})
        if self._key:
            self._headers["authorization"] = f"Bearer {self._key}"

    @property
    def models(self) -> Sequence[str]:
        return self._models

    def stream(self, request: ChatRequest) -> ChatStream:
        body = orjson.dumps(request_body(request, self.profile))

        def attempt() -> AsyncIterator[list[ChatEvent]]:
            return self._attempt(request.model, body)

        return ChatStream(retrying(self.retry, attempt, provider=self.name))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _attempt(self, model: str, body: bytes) -> AsyncIterator[list[ChatEvent]]:
        secrets = (self._key,) if self._key else ()
        async with self._http.stream("POST", self.url, headers=self._headers, body=body) as resp:
            if resp.status != 200:
                raw = await resp.read(self._http.options.max_error_body)
                raise error_from_status(
                    resp.status, raw, resp.headers, provider=self.name, secrets=secrets
                )
            start = StreamStart(model=f"{self.name}/{model}", response_id=uuid.uuid4().hex)
            if "event-stream" not in resp.headers.get("content-type", "text/event-stream"):
                yield [start, *await self._whole(resp)]
                return
            yield [start]
            async for batch in self._events(
                resp, ChunkParser(self.name, self.profile.reasoning_fields, secrets)
            ):
                yield batch

    async def _events(
        self, resp: UpstreamResponse, parser: ChunkParser
    ) -> AsyncIterator[list[ChatEvent]]:
        decoder = SSEDecoder(self.max_event_bytes)
        feed = parser.feed
        async for chunk in resp.chunks():
            try:
                sse_events = decoder.feed(chunk)
            except EventTooLargeWithPartial as exc:
                out: list[ChatEvent] = []
                for sse in exc.partial:
                    feed(sse.data, out)
                if out:
                    yield out
                raise EventTooLarge(exc.limit) from None
            if not sse_events:
                continue
            out = []
            try:
                for sse in sse_events:
                    if feed(sse.data, out):
                        yield out
                        return
            except AIChatFlowError:
                if out:  # what arrived before the bad frame in the same read still counts
                    yield out
                raise
            if out:
                yield out
        if parser.finish_raw is not None:
            yield [parser.finish()]
            return
        raise UpstreamDisconnected(
            f"{self.name}: upstream closed the stream before it finished", provider=self.name
        )

    async def _whole(self, resp: UpstreamResponse) -> list[ChatEvent]:
        """A server that ignored ``stream: true`` and sent one JSON body."""
        raw = await resp.read(self.max_event_bytes + 1)
        if len(raw) > self.max_event_bytes:
            raise EventTooLarge(self.max_event_bytes)
        try:
            return completion_events(orjson.loads(raw))
        except (orjson.JSONDecodeError, TypeError, KeyError, IndexError, AttributeError):
            raise UpstreamBadResponse(
                f"{self.name}: upstream sent neither an event stream nor a completion",
                provider=self.name,
            ) from None


__all__ = ["OpenAICompatProvider"]
