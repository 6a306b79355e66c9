"""The Google Gemini provider: ``POST /v1beta/models/{model}:streamGenerateContent?alt=sse``.

The key travels in the ``x-goog-api-key`` header, never as ``?key=`` in the URL, so no URL that
reaches a log or an error message can carry it (docs/reliability.md, guarantee 9).

Gemini's stream has no terminator (docs/upstreams.md): the body simply ends. So the answer is
complete when the body ends *after* a ``finishReason``; a body that ends before one is a
disconnect. Once a ``finishReason`` has arrived, a connection lost before the HTTP framing
closed (a FIN without the chunked terminator) loses nothing of the answer, and the stream still
ends with ``Finish``: that chunk is Gemini's last one, and its only end-of-answer signal.

The body is SSE plus Gemini's bare JSON error objects (``_decode.py``); the parser and its
``end`` are in ``_events.py``. Reading, batching and retries are ``HttpProvider``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import orjson

from ...errors import ConfigError, ProviderError, UpstreamAuth
from ...messages import ChatRequest
from ...sse.decode import ServerSentEvent
from .._http_options import HttpProviderConfig
from .._http_provider import HttpProvider
from ._convert import request_body
from ._decode import GeminiSSEDecoder
from ._events import ResponseParser, key_rejected

BASE_URL = "https://generativelanguage.googleapis.com"
KEY_ENVS = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
"""Where the key is looked for when ``api_key_env`` is not set (Google's SDKs read both)."""
MODELS = ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.5-flash-lite")


class GeminiProvider(HttpProvider[ServerSentEvent]):
    """Streams ``generateContent`` answers from the Gemini API (or anything speaking it)."""

    def __init__(self, name: str, options: Mapping[str, Any] | None = None) -> None:
        options = dict(options or {})
        cfg = HttpProviderConfig.parse(
            name,
            options,
            base_url=BASE_URL,
            key_envs=KEY_ENVS,
            models=MODELS,
            extra=frozenset({"include_thoughts"}),
        )
        include_thoughts = options.get("include_thoughts", True)
        if not isinstance(include_thoughts, bool):
            raise ConfigError(f"provider {name!r}: include_thoughts must be true or false")
        super().__init__(name, cfg, accept="text/event-stream", auth_header="x-goog-api-key")
        self.include_thoughts = include_thoughts

    def url(self, model: str) -> str:
        """The streaming URL of ``model`` (a ``models/`` prefix is accepted and dropped)."""
        bare = quote(model.removeprefix("models/"), safe="-._~")
        return f"{self.base_url}/v1beta/models/{bare}:streamGenerateContent?alt=sse"

    def models_url(self) -> str:
        return self.base_url + "/v1beta/models?pageSize=1000"

    def model_ids(self, payload: dict[str, Any]) -> list[str]:
        """``models[].name`` without ``models/``, only those that can ``generateContent``
        (the list also holds embedding and other models)."""
        return [
            m["name"].removeprefix("models/")
            for m in payload["models"]
            if isinstance(m.get("name"), str)
            and "generateContent" in m.get("supportedGenerationMethods", ["generateContent"])
        ]

    def upstream_request(self, request: ChatRequest) -> tuple[str, Any]:
        body = request_body(request, include_thoughts=self.include_thoughts)
        return self.url(request.model), body

    def decoder(self) -> GeminiSSEDecoder:
        return GeminiSSEDecoder(self.max_event_bytes)

    def parser(self, model: str) -> ResponseParser:
        return ResponseParser(self.name, self.secrets)

    def status_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> ProviderError:
        """``error_from_status``, except that Gemini answers a bad key with 400
        ``INVALID_ARGUMENT`` and says so only in ``details[].reason``: that is an auth error."""
        error = super().status_error(status, body, headers)
        if status == 400 and _bad_key(body):
            return UpstreamAuth(error.message, provider=self.name, status_code=status)
        return error


def _bad_key(raw: bytes) -> bool:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    return isinstance(body, dict) and key_rejected(body.get("error"))


__all__ = ["BASE_URL", "KEY_ENVS", "MODELS", "GeminiProvider"]
