"""What every HTTP provider holds and does the same way, so each says only what differs.

A provider built on this has its parsed options (``HttpProviderConfig``), one pooled
``HttpClient``, request headers with the credential in the header its API wants (none at all
without a key: an empty credential header is an invalid request), the key and the credentials
of configured headers as the secrets to redact from upstream errors, and retries around each
attempt.

Its advertised ``models`` are the config's ``models`` when given; otherwise what the upstream's
own model list reports (``models_url``, parsed by ``model_ids``; cached, see ``_model_list``),
and the kind's defaults until that list is known or when it cannot be had.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from ..chat_stream import ChatStream
from ..errors import UpstreamBadResponse, error_from_status
from ..events import ChatEvent
from ._http import HttpClient
from ._http_options import HttpProviderConfig
from ._model_list import MAX_BYTES, UpstreamModelList
from ._payload import json_object
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
        self.base_url = cfg.base_url
        self._listed: UpstreamModelList | None = None
        if not cfg.models_configured and self.models_url() is not None:
            self._listed = UpstreamModelList(name, self._upstream_model_ids)

    @property
    def models(self) -> Sequence[str]:
        listed = self._listed.ids if self._listed is not None else ()
        return listed or self._models

    async def refresh_models(self) -> None:
        """Bring ``models`` up to date with the upstream's list (bounded, never raises)."""
        if self._listed is not None:
            await self._listed.refresh()

    def models_url(self) -> str | None:
        """Where the upstream lists its models; None: it cannot (only configured models)."""
        return None

    def model_ids(self, payload: dict[str, Any]) -> list[str]:
        """The model ids in the upstream's list: OpenAI's (and Anthropic's) ``data[].id``."""
        return [m["id"] for m in payload["data"] if isinstance(m.get("id"), str)]

    async def _upstream_model_ids(self) -> list[str]:
        url = self.models_url()
        assert url is not None
        headers = {k: v for k, v in self._headers.items() if k != "content-type"}
        headers["accept"] = "application/json"
        async with self._http.stream("GET", url, headers=headers, body=b"") as resp:
            if resp.status != 200:
                raw = await resp.read(self._http.options.max_error_body)
                raise error_from_status(
                    resp.status, raw, resp.headers, provider=self.name, secrets=self.secrets
                )
            raw = await resp.read(MAX_BYTES + 1)
        if len(raw) > MAX_BYTES:
            raise UpstreamBadResponse(f"{self.name}: model list too large", provider=self.name)
        payload = json_object(raw, self.name, "a model list")
        try:
            return self.model_ids(payload)
        except (TypeError, KeyError, AttributeError):
            raise UpstreamBadResponse(
                f"{self.name}: upstream sent a model list of an unknown shape", provider=self.name
            ) from None

    def retried(self, attempt: Callable[[], AsyncIterator[list[ChatEvent]]]) -> ChatStream:
        """The stream of ``attempt()``, retried by the provider's policy before first content."""
        return ChatStream(retrying(self.retry, attempt, provider=self.name))

    async def aclose(self) -> None:
        if self._listed is not None:
            self._listed.close()
        await self._http.aclose()


__all__ = ["HttpProvider", "header_secrets"]
