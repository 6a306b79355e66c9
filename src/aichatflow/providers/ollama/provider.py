"""Ollama's native ``/api/chat``: the request, its NDJSON body, and a parser for its lines.

Why native rather than Ollama's OpenAI-compatible ``/v1``: native carries ``thinking`` as its
own field on every model, reports ``done_reason`` and token counts in every stream, and takes
``think`` and ``options`` directly. Reading, batching and retries are ``HttpProvider``'s.

End of stream: only a ``done`` line completes it. EOF before one, including EOF in the middle of
a line (Ollama ends every line with LF, so an unterminated tail is a cut, never a last object:
``NDJSONDecoder.close`` says so), raises ``UpstreamDisconnected``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...errors import ConfigError
from ...messages import ChatRequest
from ...sse.ndjson import NDJSONDecoder
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


class OllamaProvider(HttpProvider[bytes]):
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

    def upstream_request(self, request: ChatRequest) -> tuple[str, Any]:
        return self.url, request_body(request, think=self.think)

    def decoder(self) -> NDJSONDecoder:
        return NDJSONDecoder(self.max_event_bytes)

    def parser(self, model: str) -> LineParser:
        return LineParser(self.name, self.secrets)


__all__ = ["DEFAULT_BASE_URL", "THINK_LEVELS", "OllamaProvider"]
