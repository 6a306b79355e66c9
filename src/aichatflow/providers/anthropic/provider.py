"""The Anthropic Messages provider: ``POST {base_url}/v1/messages`` with ``"stream": true``.

``StreamStart`` comes from ``message_start`` (it carries the message id) and ``Finish`` from
``message_stop``; a body that ends before ``message_stop`` is a disconnect, however much content
came before it (``_events.py``). Reading stops at ``message_stop``: nothing waits for the end of
the body. Reading, batching and retries are ``HttpProvider``'s.
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


class AnthropicProvider(HttpProvider[ServerSentEvent]):
    """Streams messages from Anthropic's API (or anything that speaks it, such as LiteLLM)."""

    unstreamed = "a message"

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

    def upstream_request(self, request: ChatRequest) -> tuple[str, Any]:
        body = request_body(
            request, max_tokens=self.max_tokens, thinking_budget=self.thinking_budget
        )
        return self.url, body

    def decoder(self) -> SSEDecoder:
        return SSEDecoder(self.max_event_bytes)

    def parser(self, model: str) -> EventParser:
        return EventParser(self.name, model, self.secrets)

    def announce(self, model: str) -> list[ChatEvent]:
        return []  # the parser announces the stream at message_start, with Anthropic's id

    def unstreamed_events(self, body: Any, model: str) -> list[ChatEvent]:
        return message_events(body, self.parser(model))


__all__ = ["API_VERSION", "DEFAULT_BASE_URL", "AnthropicProvider"]
