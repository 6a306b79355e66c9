"""One adapter for every OpenAI-compatible server: OpenAI, DeepSeek, vLLM, llama.cpp, LiteLLM.

``POST {base_url}/chat/completions`` with ``"stream": true``; the body is SSE, one
``chat.completion.chunk`` per event, ``data: [DONE]`` at the end (``_chunks.py``). A server that
ignores ``stream: true`` and answers one ``chat.completion`` is read whole (``_completion.py``).
Reading, batching and retries are ``HttpProvider``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...errors import ConfigError
from ...events import ChatEvent
from ...messages import ChatRequest
from ...sse.decode import ServerSentEvent, SSEDecoder
from .._http_options import HttpProviderConfig
from .._http_provider import HttpProvider
from ._chunks import ChunkParser, in_band_error
from ._completion import completion_events
from ._convert import request_body
from .profiles import Profile


class OpenAICompatProvider(HttpProvider[ServerSentEvent]):
    """Streams chat completions from an OpenAI-compatible ``base_url``."""

    unstreamed = "a completion"

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

    def upstream_request(self, request: ChatRequest) -> tuple[str, Any]:
        return self.url, request_body(request, self.profile)

    def decoder(self) -> SSEDecoder:
        return SSEDecoder(self.max_event_bytes)

    def parser(self, model: str) -> ChunkParser:
        return ChunkParser(self.name, self.profile.reasoning_fields, self.secrets)

    def unstreamed_events(self, body: Any, model: str) -> list[ChatEvent]:
        if isinstance(body, dict) and ("error" in body or body.get("object") == "error"):
            raise in_band_error(body, self.name, self.secrets)  # a 200 that is an error
        return completion_events(body)


__all__ = ["OpenAICompatProvider"]
