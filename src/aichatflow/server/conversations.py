"""``/api/conversations``: the caller's stored conversations, listed, read, renamed, deleted.

Mounted by ``create_app`` only when ``[store] url`` is not ``"off"``; the store itself
(``app.state.store``, ``store/conversations.py``) is opened by the app's lifespan. Every route
is scoped to the caller's key (``""`` when keys are off, so without keys everyone shares one
list): another key's conversation is answered with the same 404 as one that does not exist.

Errors are the native JSON error shape (``server/errors.py``): 400 for a body that is not JSON
or a ``limit`` that is not a number, 415 for a ``PATCH`` that is not ``application/json`` (the
reason the chat endpoints want it: a cross-site page cannot send JSON without a preflight),
422 for a title or ``limit`` out of range, 404 for an unknown id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import RequestError, ValidationFailed
from .chat_endpoint import read_body, require_json
from .gate import EXCHANGE, Exchange

if TYPE_CHECKING:
    from ..store.conversations import ConversationStore

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
"""Conversations per page at most: a page is one query and one response, both bounded."""


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def owner_of(request: Request) -> str:
    """The caller's key id, ``""`` without keys: whose conversations a request may touch."""
    exchange = request.scope.get(EXCHANGE)
    key_id = exchange.caller.key_id if isinstance(exchange, Exchange) else None
    return key_id or ""


def _store(request: Request) -> ConversationStore:
    store: ConversationStore = request.app.state.store
    return store


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise RequestError("limit: not an integer") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(
            [{"loc": ("query", "limit"), "msg": f"limit is from 1 to {MAX_LIMIT}"}]
        )
    return limit


async def list_conversations(request: Request) -> Response:
    """``GET /api/conversations?limit=&before=``: newest first; ``before`` is the last id of
    the previous page, ``has_more`` says whether another page follows."""
    limit = _limit(request.query_params.get("limit"))
    before = request.query_params.get("before") or None
    found = await _store(request).list_conversations(
        owner_of(request), limit=limit + 1, before=before
    )
    data = [conversation.as_json() for conversation in found[:limit]]
    return _json({"data": data, "has_more": len(found) > limit})


async def conversation(request: Request) -> Response:
    """``GET|PATCH|DELETE /api/conversations/{conversation_id}``."""
    store, owner = _store(request), owner_of(request)
    conversation_id = request.path_params["conversation_id"]
    if request.method == "DELETE":
        await store.delete(owner, conversation_id)
        return Response(status_code=204)
    if request.method == "PATCH":
        title = await _title(request)
        renamed = await store.rename(owner, conversation_id, title)
        return _json(renamed.as_json())
    detail = await store.get_conversation(owner, conversation_id)
    return _json(detail.as_json())


async def _title(request: Request) -> Any:
    """The ``title`` of a ``PATCH`` body (the store checks its type and length)."""
    require_json(request.scope)
    settings = request.app.state.settings
    body = await read_body(
        request.scope, request.receive, settings.max_body_bytes, settings.http.body_timeout
    )
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise RequestError("request body is not valid JSON") from None
    if not isinstance(data, dict) or "title" not in data:
        raise ValidationFailed([{"loc": ("body", "title"), "msg": "a JSON object with a title"}])
    return data["title"]


def conversation_routes() -> list[Route]:
    return [
        Route("/api/conversations", list_conversations, methods=["GET"]),
        Route(
            "/api/conversations/{conversation_id}",
            conversation,
            methods=["GET", "PATCH", "DELETE"],
        ),
    ]


__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "conversation_routes", "owner_of"]
