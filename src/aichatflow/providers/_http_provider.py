"""What every HTTP provider holds and does the same way, so each says only what differs.

A provider built on this has its parsed options (``HttpProviderConfig``), one pooled
``HttpClient``, request headers with the credential in the header its API wants (none at all
without a key: an empty credential header is an invalid request), the key and the credentials
of configured headers as the secrets to redact from upstream errors, and retries around each
attempt.

``HttpProvider`` is also the template of ``stream``: it POSTs, turns a status other than 200
into its typed error (a bounded, redacted part of the body as the message), announces the
stream, reads the body through ``read_batches`` (``_batches.py``: one batch per upstream read)
and retries by the provider's policy before the first content. A provider says only what is
its own: ``upstream_request`` (the URL and JSON body of a ``ChatRequest``), ``decoder`` (how its
body is cut into items) and ``parser`` (items to events); and, if its API needs it,
``status_error``, ``announce``, or ``unstreamed`` with ``unstreamed_events`` for servers that
ignore ``stream: true`` and answer with one JSON body.

Its advertised ``models`` are the config's ``models`` when given; otherwise what the upstream's
own model list reports (``models_url``, parsed by ``model_ids``; cached, see ``_model_list``),
and the kind's defaults until that list is known or when it cannot be had.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import aclosing
from typing import Any, ClassVar, Generic, TypeVar

import orjson

from ..chat_stream import ChatStream
from ..errors import EventTooLarge, ProviderError, UpstreamBadResponse, error_from_status
from ..events import ChatEvent, StreamStart
from ..messages import ChatRequest
from ..redaction import header_secrets
from ..sse.protocol import Decoder
from ._batches import Parser, read_batches
from ._http import HttpClient, UpstreamResponse
from ._http_options import HttpProviderConfig
from ._model_list import MAX_BYTES, UpstreamModelList
from ._payload import json_object
from ._retry import retrying

ItemT = TypeVar("ItemT")


class HttpProvider(ABC, Generic[ItemT]):
    """Base of the HTTP providers (openai-compatible, Anthropic, Gemini, Ollama); ``ItemT`` is
    what its decoder cuts the body into (``ServerSentEvent``, a JSON line's ``bytes``)."""

    unstreamed: ClassVar[str | None] = None
    """What a server that ignores ``stream: true`` answers instead, named for errors ("a
    completion"). Set, a 200 body whose content type is not the ``accept``ed one is read whole
    (within ``max_event_bytes``) and given to ``unstreamed_events``. None: every 200 body is
    read as a stream."""

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
        self._stream_type = accept.partition("/")[2]  # "event-stream", as content types vary
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

    # --- what each provider says -------------------------------------------------------------

    @abstractmethod
    def upstream_request(self, request: ChatRequest) -> tuple[str, Any]:
        """The URL to POST ``request`` to, and the JSON body to send (built once per stream,
        sent again as it is by each retry)."""

    @abstractmethod
    def decoder(self) -> Decoder[ItemT]:
        """A fresh decoder for one response body, bounded by ``max_event_bytes``."""

    @abstractmethod
    def parser(self, model: str) -> Parser[ItemT]:
        """A fresh parser for one response; ``model`` is ``provider/model`` as asked for."""

    # --- what a provider may say ------------------------------------------------------------

    def announce(self, model: str) -> list[ChatEvent]:
        """The events sent as soon as the upstream answers 200, before any of its body: a
        ``StreamStart`` with an id of our own. A parser that takes the id from the stream
        (Anthropic's ``message_start``) announces it itself, and this returns nothing."""
        return [StreamStart(model=model, response_id=uuid.uuid4().hex)]

    def status_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> ProviderError:
        """The typed error of a status other than 200, ``body`` its first bytes."""
        return error_from_status(status, body, headers, provider=self.name, secrets=self.secrets)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A provider that reads whole answers (``unstreamed``) must say how: checked when the
        class is defined, so ``unstreamed_events`` below is never reached unset."""
        super().__init_subclass__(**kwargs)
        if cls.unstreamed is not None and cls.unstreamed_events is HttpProvider.unstreamed_events:
            raise TypeError(f"{cls.__name__} sets unstreamed but not unstreamed_events")

    def unstreamed_events(self, body: Any, model: str) -> list[ChatEvent]:
        """The events of a whole JSON answer (see ``unstreamed``); a ``TypeError``,
        ``KeyError``, ``IndexError`` or ``AttributeError`` here means it has the wrong shape.
        Only called when ``unstreamed`` is set, and then overridden (``__init_subclass__``)."""
        return []

    # --- the template -----------------------------------------------------------------------

    def stream(self, request: ChatRequest) -> ChatStream:
        url, payload = self.upstream_request(request)
        body = orjson.dumps(payload)
        model = f"{self.name}/{request.model}"

        def attempt() -> AsyncIterator[list[ChatEvent]]:
            return self._attempt(model, url, body)

        return ChatStream(retrying(self.retry, attempt, provider=self.name, deployment=model))

    async def _attempt(self, model: str, url: str, body: bytes) -> AsyncIterator[list[ChatEvent]]:
        """One request. Leaving the ``async with`` (the end of the answer, an error, the
        consumer closing or cancelling us) closes the upstream response at once."""
        async with self._http.stream("POST", url, headers=self._headers, body=body) as resp:
            if resp.status != 200:
                raw = await resp.read(self._http.options.max_error_body)
                raise self.status_error(resp.status, raw, resp.headers)
            start = self.announce(model)
            streamed = self._stream_type
            ctype = resp.headers.get("content-type", streamed)
            if self.unstreamed is not None and streamed not in ctype:
                yield [*start, *await self._whole(resp, model)]
                return
            if start:
                yield start
            reader = read_batches(resp.chunks(), self.decoder(), self.parser(model), self.name)
            async with aclosing(reader) as batches:
                async for batch in batches:
                    yield batch

    async def _whole(self, resp: UpstreamResponse, model: str) -> list[ChatEvent]:
        """A server that ignored ``stream: true`` and sent one JSON body."""
        limit = self.max_event_bytes
        raw = await resp.read(limit + 1)
        if len(raw) > limit:
            raise EventTooLarge(limit)
        try:
            return self.unstreamed_events(orjson.loads(raw), model)
        except (orjson.JSONDecodeError, TypeError, KeyError, IndexError, AttributeError):
            raise UpstreamBadResponse(
                f"{self.name}: upstream sent neither an event stream nor {self.unstreamed}",
                provider=self.name,
            ) from None

    async def aclose(self) -> None:
        if self._listed is not None:
            self._listed.close()
        await self._http.aclose()


__all__ = ["HttpProvider", "header_secrets"]
