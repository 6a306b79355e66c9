"""The Google Gemini provider: ``POST /v1beta/models/{model}:streamGenerateContent?alt=sse``.

The key travels in the ``x-goog-api-key`` header, never as ``?key=`` in the URL, so no URL that
reaches a log or an error message can carry it (docs/reliability.md, guarantee 9).

Gemini's stream has no terminator (docs/upstreams.md): the body simply ends. So the answer is
complete when the body ends *after* a ``finishReason``; a body that ends before one is a
disconnect. Once a ``finishReason`` has arrived, a connection lost before the HTTP framing
closed (a FIN without the chunked terminator) loses nothing of the answer, and the stream still
ends with ``Finish``: that chunk is Gemini's last one, and its only end-of-answer signal.

Per upstream read, every complete SSE event (and bare JSON object, see ``_decode.py``) is parsed
and the events are handed over as one batch. Leaving the ``async with`` (normal end, error, or
the consumer closing or cancelling us) closes the upstream response at once.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote

import orjson

from ...chat_stream import ChatStream, aclose_quietly
from ...errors import (
    AIChatFlowError,
    ConfigError,
    EventTooLarge,
    ProviderError,
    UpstreamAuth,
    UpstreamBadResponse,
    UpstreamDisconnected,
    error_from_status,
)
from ...events import ChatEvent, StreamStart
from ...messages import ChatRequest
from ...sse.decode import EventTooLargeWithPartial
from .._http import UpstreamResponse
from .._http_options import HttpProviderConfig
from .._http_provider import HttpProvider
from ._convert import request_body
from ._decode import GeminiSSEDecoder
from ._events import ResponseParser, key_rejected

BASE_URL = "https://generativelanguage.googleapis.com"
KEY_ENVS = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
"""Where the key is looked for when ``api_key_env`` is not set (Google's SDKs read both)."""
MODELS = ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.5-flash-lite")


class GeminiProvider(HttpProvider):
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

    def stream(self, request: ChatRequest) -> ChatStream:
        body = orjson.dumps(request_body(request, include_thoughts=self.include_thoughts))
        url = self.url(request.model)

        def attempt() -> AsyncIterator[list[ChatEvent]]:
            return self._attempt(request.model, url, body)

        return self.retried(attempt)

    async def _attempt(self, model: str, url: str, body: bytes) -> AsyncIterator[list[ChatEvent]]:
        secrets = self.secrets
        async with self._http.stream("POST", url, headers=self._headers, body=body) as resp:
            if resp.status != 200:
                raw = await resp.read(self._http.options.max_error_body)
                raise self._status_error(resp, raw, secrets)
            yield [StreamStart(model=f"{self.name}/{model}", response_id=uuid.uuid4().hex)]
            async for batch in self._events(resp, ResponseParser(self.name, secrets)):
                yield batch

    def _status_error(
        self, resp: UpstreamResponse, raw: bytes, secrets: tuple[str, ...]
    ) -> ProviderError:
        """``error_from_status``, except that Gemini answers a bad key with 400
        ``INVALID_ARGUMENT`` and says so only in ``details[].reason``: that is an auth error."""
        error = error_from_status(
            resp.status, raw, resp.headers, provider=self.name, secrets=secrets
        )
        if resp.status == 400 and _bad_key(raw):
            return UpstreamAuth(error.message, provider=self.name, status_code=resp.status)
        return error

    async def _events(
        self, resp: UpstreamResponse, parser: ResponseParser
    ) -> AsyncIterator[list[ChatEvent]]:
        decoder = GeminiSSEDecoder(self.max_event_bytes)
        chunks = resp.chunks()
        try:
            while True:
                chunk: bytes | None
                lost: UpstreamDisconnected | None = None
                try:
                    chunk = await anext(chunks)
                except StopAsyncIteration:
                    chunk = None
                except UpstreamDisconnected as exc:
                    chunk, lost = None, exc
                out, error = self._parse(decoder, parser, chunk)
                if lost is not None and isinstance(error, UpstreamBadResponse):
                    error = None  # a frame cut short by the lost connection, not a bad one
                if chunk is None and error is None:
                    if parser.finish_raw is None:
                        error = lost or UpstreamDisconnected(
                            f"{self.name}: upstream ended the stream before it finished",
                            provider=self.name,
                        )
                    else:
                        out.append(parser.finish())
                if out:  # what came before a bad frame in the same read still counts
                    yield out
                if error is not None:
                    raise error
                if chunk is None:
                    return
        finally:
            await aclose_quietly(chunks)  # a failure closing must not hide why we stopped

    @staticmethod
    def _parse(
        decoder: GeminiSSEDecoder, parser: ResponseParser, chunk: bytes | None
    ) -> tuple[list[ChatEvent], AIChatFlowError | None]:
        """The events of one read (``None``: the end of the body), and the failure that cut
        them short, if any."""
        out: list[ChatEvent] = []
        try:
            try:
                sse_events = decoder.close() if chunk is None else decoder.feed(chunk)
            except EventTooLargeWithPartial as exc:
                for sse in exc.partial:
                    parser.feed(sse.data, out)
                return out, EventTooLarge(exc.limit)
            for sse in sse_events:
                parser.feed(sse.data, out)
        except AIChatFlowError as exc:
            return out, exc
        return out, None


def _bad_key(raw: bytes) -> bool:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    return isinstance(body, dict) and key_rejected(body.get("error"))


__all__ = ["BASE_URL", "KEY_ENVS", "MODELS", "GeminiProvider"]
