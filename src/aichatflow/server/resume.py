"""``GET /api/chat/{stream_id}/stream`` (resume) and ``POST /api/chat/{stream_id}/stop``.

A resume replays what followed the client's last event id exactly once, then follows the run
live: the id comes from ``Last-Event-ID`` (what a browser's ``EventSource`` sends by itself
when it reconnects) or ``?last_event_id=`` (for clients that cannot set headers); without
either, the whole stream is replayed from its ``start`` frame. A finished stream whose last id
the client already has is a 204, which tells an ``EventSource`` to stop reconnecting.

Only the key that started a run may read or stop it. An unknown id and another key's get the
same 404 from the same code path (``UnknownStream``), so ids cannot be probed.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..chat_stream import ChatStream
from ..dialects.base import Dialect
from ..dialects.native import NativeDialect
from ..errors import OverCapacity, RequestError, UnknownStream
from ..events import ChatEvent
from ..journal.backend import RunInfo
from ..journal.reader import RESUME_EXPIRED, reader_limits
from ..stream.response import EventStreamResponse
from .gate import EXCHANGE, Exchange
from .run_flow import MESSAGE_ID, RunFlow

STREAM_ID = re.compile(r"[A-Za-z0-9_-]{16}")
"""What ``new_stream_id`` makes: 16 URL-safe characters."""
POSITION = re.compile(r"[0-9]{1,12}")
JOURNAL_DOWN = OverCapacity("the stream journal is unavailable; retry shortly", retry_after=2.0)


def _flow(request: Request) -> RunFlow:
    flow: RunFlow = request.app.state.run_flow
    return flow


def owner_of(request: Request) -> str:
    """The caller's key id ("" without keys): the owner of the runs it starts."""
    exchange: Exchange | None = request.scope.get(EXCHANGE)
    if exchange is None:
        return ""
    return exchange.caller.key_id or ""


def rejoin(request: Request, dialect: Dialect[Any], info: RunInfo) -> None:
    """Tell a resumed response's dialect what the run's first response knew: this request's
    id, and the stored turn the run answers, so its start names the same conversation and
    message (every dialect with turns: the native ``start`` frame, the UI stream's ``start``)."""
    exchange: Exchange | None = request.scope.get(EXCHANGE)
    if exchange is not None:
        dialect.request_id = exchange.record.request_id
    if info.conversation_id is not None and MESSAGE_ID in info.extra:
        dialect.begin_turn(info.conversation_id, info.extra[MESSAGE_ID])


def _last_event_id(request: Request, stream_id: str) -> int | None:
    """The position after which to resume, or None for the whole stream; 400 for an id that
    is malformed or names another stream."""
    value = request.headers.get("last-event-id")
    if value is None:
        value = request.query_params.get("last_event_id")
    if value is None or value == "":
        return None
    prefix, _, position = value.rpartition(".")
    if prefix != stream_id or not POSITION.fullmatch(position):
        raise RequestError("Last-Event-ID is not an id of this stream")
    return int(position)


async def _run(request: Request) -> RunInfo:
    """The run named in the path, if this caller may see it."""
    stream_id = request.path_params["stream_id"]
    if not STREAM_ID.fullmatch(stream_id):
        raise RequestError("malformed stream id")
    try:
        info = await _flow(request).journal.info(stream_id)
    except Exception:
        raise JOURNAL_DOWN from None
    if info is None or info.owner != owner_of(request):
        raise UnknownStream()
    return info


async def _expired() -> AsyncIterator[list[ChatEvent]]:
    yield [RESUME_EXPIRED]


async def resume_stream(request: Request) -> Response:
    info = await _run(request)
    stream_id = info.stream_id
    after = _last_event_id(request, stream_id)
    if after is not None and after > info.length and info.state != "expired":
        raise RequestError("Last-Event-ID is past the end of this stream")
    if info.state == "ended" and after is not None and after >= info.length:
        return Response(status_code=204)
    flow = _flow(request)
    limits = request.app.state.limits
    dialect = NativeDialect(
        stream_id, info.model, retry_ms=limits.retry_ms, deployment=info.deployment
    )
    rejoin(request, dialect, info)
    dialect.journaled = True
    if after is not None:
        dialect.resume(after)
    source = ChatStream(
        _expired() if info.state == "expired" else flow.runs.follow(stream_id, after or 0)
    )
    return EventStreamResponse(
        source, dialect=dialect, limits=reader_limits(limits), stream_id=stream_id
    )


async def stop_stream(request: Request) -> Response:
    info = await _run(request)
    try:
        stopped = await _flow(request).runs.stop(info.stream_id)
    except Exception:
        raise JOURNAL_DOWN from None
    return JSONResponse({"stream_id": info.stream_id, "stopped": stopped})


__all__ = ["JOURNAL_DOWN", "owner_of", "rejoin", "resume_stream", "stop_stream"]
