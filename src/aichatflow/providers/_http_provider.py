"""What every HTTP provider holds and does the same way, so each says only what differs.

A provider built on this has its parsed options (``HttpProviderConfig``), one pooled
``HttpClient``, request headers with the credential in the header its API wants (none at all
without a key: an empty credential header is an invalid request, PEERS.md section 6), the key
and the credentials of configured headers as the secrets to redact from upstream errors, and
retries around each attempt.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence

from ..events import ChatEvent
from ..stream.source import ChatStream
from ._http import HttpClient
from ._http_options import HttpProviderConfig
from ._retry import retrying

_CREDENTIAL_HEADER = re.compile(r"(?i)auth|api[-_]?key|token|secret|cookie|signature")
_MIN_SECRET = 8
"""Shorter header values are flags, not credentials; redacting them would garble messages."""


def header_secrets(headers: Mapping[str, str]) -> tuple[str, ...]:
    """The values of configured headers that carry a credential (an Azure ``api-key``, a
    gateway's ``Authorization: Bearer ...``): secrets as much as ``api_key`` is, and the token
    after an auth scheme on its own too, since an upstream may echo just that."""
    found: list[str] = []
    for name, value in headers.items():
        if _CREDENTIAL_HEADER.search(name):
            token = value.strip().rpartition(" ")[2]
            found += [v for v in (value.strip(), token) if len(v) >= _MIN_SECRET]
    return tuple(dict.fromkeys(found))


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
        self.secrets: tuple[str, ...] = ((self._key,) if self._key else ()) + header_secrets(
            cfg.headers
        )
        """What upstream error texts are redacted of."""

    @property
    def models(self) -> Sequence[str]:
        return self._models

    def retried(self, attempt: Callable[[], AsyncIterator[list[ChatEvent]]]) -> ChatStream:
        """The stream of ``attempt()``, retried by the provider's policy before first content."""
        return ChatStream(retrying(self.retry, attempt, provider=self.name))

    async def aclose(self) -> None:
        await self._http.aclose()


__all__ = ["HttpProvider", "header_secrets"]
