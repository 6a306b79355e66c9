"""The endpoints of ``aichatflow serve`` (docs/protocol.md, Endpoints)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from ..dialects.anthropic import AnthropicMessageDialect, AnthropicStreamDialect
from ..dialects.base import Dialect
from ..dialects.native import NativeDialect
from ..dialects.openai import OpenAICompletionDialect, OpenAIStreamDialect
from ..errors import RequestError, UnknownModel
from ..messages import ChatRequest
from ..providers.registry import Registry
from ..stream.limits import StreamLimits
from ..stream.response import EventStreamResponse, new_stream_id
from .gate import EXCHANGE, Exchange
from .page_headers import PAGE_HEADERS
from .turns import SERVER_FIELDS

STATIC = Path(__file__).parent / "static"


def native_chat(registry: Registry, limits: StreamLimits, chat: ChatRequest) -> EventStreamResponse:
    """``POST /api/chat``: the native SSE protocol. ``conversation_id`` is the server's (a
    stored conversation to continue, ``server/run_flow.py``), never sent upstream."""
    first = registry.plan(chat.model)[0]  # UnknownModel: 404 before any header
    stream = registry.stream(without_conversation(chat))
    stream_id = new_stream_id()
    dialect = NativeDialect(stream_id, chat.model, retry_ms=limits.retry_ms, deployment=first.name)
    return EventStreamResponse(stream, dialect=dialect, limits=limits, stream_id=stream_id)


def without_conversation(chat: ChatRequest) -> ChatRequest:
    """``chat`` without the native body's ``conversation_id`` and ``replace_from`` (they are
    the server's, no upstream parameters)."""
    extra = chat.model_extra
    if not extra or SERVER_FIELDS.isdisjoint(extra):
        return chat
    return ChatRequest.model_validate(chat.model_dump(exclude=set(SERVER_FIELDS)))


def openai_chat(registry: Registry, limits: StreamLimits, chat: ChatRequest) -> EventStreamResponse:
    """``POST /v1/chat/completions``: OpenAI chunks, or one body when ``stream`` is false."""
    extra = chat.extra
    if extra.get("n", 1) not in (1, None):
        raise RequestError("only n=1 is supported")
    stream = registry.stream(chat)
    stream_id = new_stream_id()
    dialect: Dialect[Any]
    if extra.get("stream"):
        options = extra.get("stream_options") or {}
        include_usage = bool(options.get("include_usage")) if isinstance(options, dict) else False
        dialect = OpenAIStreamDialect(stream_id, chat.model, include_usage=include_usage)
    else:
        dialect = OpenAICompletionDialect(stream_id, chat.model)
    return EventStreamResponse(stream, dialect=dialect, limits=limits, stream_id=stream_id)


def anthropic_chat(
    registry: Registry, limits: StreamLimits, chat: ChatRequest
) -> EventStreamResponse:
    """``POST /v1/messages``: Anthropic's event stream, or one ``message`` body when ``stream``
    is false (the body was converted by ``dialects/anthropic_request.py``)."""
    stream = registry.stream(chat)
    stream_id = new_stream_id()
    dialect: Dialect[Any]
    if chat.extra.get("stream"):
        dialect = AnthropicStreamDialect(stream_id, chat.model)
    else:
        dialect = AnthropicMessageDialect(stream_id, chat.model)
    return EventStreamResponse(stream, dialect=dialect, limits=limits, stream_id=stream_id)


def _registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


def _model_object(model: str, owner: str) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": 0, "owned_by": owner}


async def _model_ids(request: Request) -> list[tuple[str, str]]:
    """The models the caller may use: all of them, or those its key's globs allow (as
    LiteLLM's proxy lists only a key's models; a model it may not use is a 404 here, as for a
    model that does not exist, so the list is not an oracle either)."""
    registry = _registry(request)
    await registry.refresh_models()  # bounded; an upstream that fails only drops its list
    exchange: Exchange | None = request.scope.get(EXCHANGE)
    ids = registry.model_ids()
    if exchange is None:
        return ids
    return [(model, owner) for model, owner in ids if exchange.caller.may_use(model)]


async def list_models(request: Request) -> Response:
    """``GET /v1/models``: every provider's models (configured, or its upstream's own list)
    and the aliases."""
    data = [_model_object(model, owner) for model, owner in await _model_ids(request)]
    return JSONResponse({"object": "list", "data": data})


async def retrieve_model(request: Request) -> Response:
    """``GET /v1/models/{id}`` (ids hold ``/``): one model of the list, else a 404
    ``unknown_model`` worded as for a chat request (the OpenAI SDK's ``NotFoundError``)."""
    model_id: str = request.path_params["model_id"]
    for model, owner in await _model_ids(request):
        if model == model_id:
            return JSONResponse(_model_object(model, owner))
    raise UnknownModel(model_id)


async def page(request: Request) -> Response:
    headers = {"cache-control": "no-cache", **PAGE_HEADERS}
    return FileResponse(STATIC / "index.html", headers=headers)


async def page_config(request: Request) -> Response:
    """What the page needs to know: the default model, whether conversations are stored
    (``/api/conversations``) and answers can be resumed and stopped (the journal's routes), and
    that ``POST /api/ui/chat`` (the AI SDK's UI message stream) is served."""
    state = request.app.state
    resume = state.run_flow is not None
    features = {
        "conversations": resume and state.settings.store.enabled,
        "resume": resume,
        "ui_chat": True,
    }
    return JSONResponse({"default_model": state.settings.default_model, "features": features})


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


__all__ = ["STATIC", "anthropic_chat", "native_chat", "openai_chat"]
