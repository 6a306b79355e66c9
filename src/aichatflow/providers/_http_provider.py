"""What every HTTP provider holds and does the same way, so each says only what differs.

A provider built on this has its parsed options (``HttpProviderConfig``), one pooled
``HttpClient``, request headers with the credential in the header its API wants (none at all
without a key: an empty credential header is an invalid request), the key
as the one secret to redact from upstream errors, and retries around each attempt.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence

from ..events import ChatEvent
from ..stream.source import ChatStream
from ._http import HttpClient
from ._http_options import HttpProviderConfig
from ._retry import retrying


class HttpProvider:
    """Base of the HTTP providers (openai-compatible, Anthropic, Gemini, Ollama)."""

    def __init__(
        self,
        name: str,
        cfg: HttpProviderConfig,
        *,
        accept: str,
        auth_header: str,
        auth_prefix: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self._key = cfg.api_key
        self._models = cfg.models
        self.max_event_bytes = cfg.max_event_bytes
        self.retry = cfg.retry
        self._http = HttpClient(name, cfg.http)
        self._headers = {"content-type": "application/json", "accept": accept, **(headers or {})}
        self._headers.update(cfg.headers)
        if self._key:
            self._headers[auth_header] = auth_prefix + self._key
        self.secrets: tuple[str, ...] = (self._key,) if self._key else ()
        """What upstream error texts are redacted of."""

    @property
    def models(self) -> Sequence[str]:
        return self._models

    def retried(self, attempt: Callable[[], AsyncIterator[list[ChatEvent]]]) -> ChatStream:
        """The stream of ``attempt()``, retried by the provider's policy before first content."""
        return ChatStream(retrying(self.retry, attempt, provider=self.name))

    async def aclose(self) -> None:
        await self._http.aclose()


__all__ = ["HttpProvider"]
