"""One adapter for every OpenAI-compatible server: OpenAI, DeepSeek, vLLM, llama.cpp, LiteLLM.

Per upstream read, every complete SSE event is decoded and parsed, and the resulting events are
handed over as one batch. Leaving the ``async with`` (normal end, error, or the consumer closing
or cancelling us) closes the upstream response at once.
"""

from __future__ import annotations

import uuid
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
from ...events import ChatEvent, StreamStart
from ...messages import ChatRequest
from ...sse.decode import SSEDecoder
from .._http import UpstreamResponse
from .._http_options import HttpProviderConfig
from .._http_provider import HttpProvider
from .._sse_batches import SSEBatches
from ._chunks import ChunkParser, in_band_error
from ._completion import completion_events
from ._convert import request_body
from .profiles import Profile


class OpenAICompatProvider(HttpProvider):
    """Streams chat completions from an OpenAI-compatible ``base_url``."""

    def __init__(self, name: str, profile: Profile, options: Mapping[str, Any] | None = None):
        if not (options or {}).get("base_url") and not profile.base_url:
            raise ConfigError(f"provider {name!r}: base_url is required for kind {profile.kind!r}")
        cfg = HttpProviderConfig.parse(
            name,
            options or {},
            base_url=profile.base_url,
            key_envs=(profile.api_key_env,) if profile.api_key_env else (),
            models=profile.models,
        )
        super().__init__(
            name,
            cfg,
            accept="text/event-stream",
            auth_header="authorization",
            auth_prefix="Bearer ",
            headers=profile.extra_headers,
        )
        self.profile = profile
        self.url = cfg.base_url + "/chat/completions"

    def models_url(self) -> str:
        return self.base_url + "/models"

    def stream(self, request: ChatRequest) -> ChatStream:
        body = orjson.dumps(request_body(request, self.profile))

        def attempt() -> AsyncIterator[list[ChatEvent]]:
            return self._attempt(request.model, body)

        return self.retried(attempt)

    async def _attempt(self, model: str, body: bytes) -> AsyncIterator[list[ChatEvent]]:
        secrets = self.secrets
        post = self._http.post(self.url, headers=self._headers, body=body, secrets=secrets)
        async with post as resp:
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
        feed = parser.feed
        reader = SSEBatches(SSEDecoder(self.max_event_bytes), lambda sse, out: feed(sse.data, out))
        async for batch in reader.over(resp.chunks()):
            yield batch
        if reader.done:
            return
        if parser.finish_raw is not None:  # finish_reason came, only [DONE] is missing
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
            body = orjson.loads(raw)
            if isinstance(body, dict) and ("error" in body or body.get("object") == "error"):
                raise in_band_error(body, self.name, self.secrets)  # a 200 that is an error
            return completion_events(body)
        except (orjson.JSONDecodeError, TypeError, KeyError, IndexError, AttributeError):
            raise UpstreamBadResponse(
                f"{self.name}: upstream sent neither an event stream nor a completion",
                provider=self.name,
            ) from None


__all__ = ["OpenAICompatProvider"]
