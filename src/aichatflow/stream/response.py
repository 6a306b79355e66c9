"""``EventStreamResponse``: stream a provider (or any async iterable of ChatEvent) from a route.

It subclasses Starlette's ``Response`` only so FastAPI returns it untouched; it is really a plain
ASGI app whose ``__call__`` hands the connection to the stream engine::

    @app.post("/chat")
    async def chat(request: Request) -> EventStreamResponse:
        req = ChatRequest.model_validate(await request.json())
        return EventStreamResponse(provider.stream(req), model=req.model)
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterable, Mapping
from typing import Any

from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ..chat_stream import ChatStream
from ..dialects.base import Dialect
from ..dialects.native import NativeDialect
from ..events import ChatEvent
from ..request_record import RequestRecord
from .engine import StreamOutcome, run_stream
from .limits import StreamLimits


def new_stream_id() -> str:
    """16 URL-safe characters: unguessable, short, and legal in an SSE ``id:`` line."""
    return secrets.token_urlsafe(12)


class EventStreamResponse(Response):
    """Streams ``source`` in ``dialect`` (the native protocol unless told otherwise)."""

    def __init__(
        self,
        source: AsyncIterable[ChatEvent] | ChatStream | AsyncIterable[Any],
        *,
        model: str = "",
        dialect: Dialect[Any] | None = None,
        limits: StreamLimits | None = None,
        stream_id: str | None = None,
        background: BackgroundTask | None = None,
        record: RequestRecord | None = None,
    ) -> None:
        self.source = source
        self.limits = limits or StreamLimits()
        self.stream_id = stream_id or new_stream_id()
        self.dialect: Dialect[Any] = dialect or NativeDialect(
            self.stream_id, model, retry_ms=self.limits.retry_ms
        )
        self.background = background
        self.record = record
        """Where the engine writes the stream's times (the server's request record)."""
        self.status_code = 200
        self.outcome: StreamOutcome | None = None
        self.raw_headers = list(self.dialect.headers())

    @property
    def headers_map(self) -> Mapping[str, str]:
        return {k.decode(): v.decode() for k, v in self.raw_headers}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.outcome = await run_stream(
            receive,
            send,
            self.source,
            self.dialect,
            self.limits,
            stream_id=self.stream_id,
            record=self.record,
        )
        if self.background is not None:
            await self.background()


__all__ = ["EventStreamResponse", "new_stream_id"]
