"""The endpoints of ``aichatflow serve`` (DESIGN.md section 5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from ..dialects.base import Dialect
from ..dialects.native import NativeDialect
from ..dialects.openai import OpenAICompletionDialect, OpenAIStreamDialect
from ..errors import RequestError
from ..messages import ChatRequest
from ..providers import Registry
from ..stream.limits import StreamLimits
from ..stream.response import EventStreamResponse, new_stream_id
from .errors import ValidationFailed

STATIC = Path(__file__).parent / "static"


async def read_chat_request(request: Request) -> ChatRequest:
    """Parse and validate the body: 400 for bad JSON, 422 for a bad shape."""
    body = await request.body()
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise RequestError("request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ValidationFailed([{"loc": ("body",), "msg": "expected a JSON object"}])
    try:
        return ChatRequest.model_validate(data)
    except ValidationError as exc:
        details = exc.errors(include_url=False, include_input=False, include_context=False)
        raise ValidationFailed([dict(d) for d in details]) from None


def _registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


def _limits(request: Request) -> StreamLimits:
    limits: StreamLimits = request.app.state.limits
    return limits


async def native_chat(request: Request) -> Response:
    """``POST /api/chat``: the native SSE protocol."""
    chat = await read_chat_request(request)
    registry = _registry(request)
    first = registry.plan(chat.model)[0]  # UnknownModel: 404 before any header
    stream = registry.stream(chat)
    limits = _limits(request)
    stream_id = new_stream_id()
    dialect = NativeDialect(stream_id, chat.model, retry_ms=limits.retry_ms, deployment=first.name)
    return EventStreamResponse(stream, dialect=dialect, limits=limits, stream_id=stream_id)


async def openai_chat(request: Request) -> Response:
    """``POST /v1/chat/completions``: OpenAI chunks, or one body when ``stream`` is false."""
    chat = await read_chat_request(request)
    extra = chat.extra
    if extra.get("n", 1) not in (1, None):
        raise RequestError("only n=1 is supported")
    stream = _registry(request).stream(chat)
    stream_id = new_stream_id()
    dialect: Dialect[Any]
    if extra.get("stream"):
        options = extra.get("stream_options") or {}
        include_usage = bool(options.get("include_usage")) if isinstance(options, dict) else False
        dialect = OpenAIStreamDialect(stream_id, chat.model, include_usage=include_usage)
    else:
        dialect = OpenAICompletionDialect(stream_id, chat.model)
    return EventStreamResponse(
        stream, dialect=dialect, limits=_limits(request), stream_id=stream_id
    )


async def list_models(request: Request) -> Response:
    data = [
        {"id": model, "object": "model", "created": 0, "owned_by": owner}
        for model, owner in _registry(request).model_ids()
    ]
    return JSONResponse({"object": "list", "data": data})


async def page(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache"})


async def page_config(request: Request) -> Response:
    return JSONResponse({"default_model": request.app.state.settings.default_model})


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


__all__ = ["STATIC", "read_chat_request"]
