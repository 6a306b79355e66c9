"""The chat endpoints as plain ASGI apps, and the app that dispatches to them first.

Why not ordinary Starlette routes: a held stream keeps every layer it was called through suspended
for its whole life. Through Starlette's stack (error middleware, exception middleware, router,
route, request/response wrapper, two exception-handler wrappers) that is several KiB of coroutine
frames, closures and a ``Request`` per open stream, and two ``send`` wrappers on every event
(docs/performance.md, "The chat endpoints skip Starlette's middleware stack"). ``ChatApp`` hands
``POST /api/chat``, ``POST /v1/chat/completions`` and ``POST /v1/messages`` straight to a
:class:`ChatEndpoint`, which checks the content type, reads the body itself (with the body limit),
turns it into a ``ChatRequest`` (its ``convert``: Anthropic's body differs), answers bad requests
with the same JSON errors as the other routes (``server/errors.py``: in the error shape of the
path's dialect), and returns from everything but the stream before the stream starts.

The same endpoint objects are also mounted as ordinary routes, so once a user adds middleware
(``app.add_middleware``), ``ChatApp`` stops short-cutting and every request goes through it.
Either way the ``Host`` check (``server/hosts.py``) runs first, in ``ChatApp.__call__``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from ..errors import (
    AIChatFlowError,
    BodyTimeout,
    BodyTooLarge,
    RequestError,
    UnsupportedMediaType,
    ValidationFailed,
)
from ..messages import ChatRequest
from ..providers.registry import Registry
from ..stream.limits import StreamLimits
from ..stream.response import EventStreamResponse
from ..throttled_log import ThrottledWarning
from .chat_run import admit, bare_exchange, stream_admitted
from .errors import INTERNAL_ERROR, send_error
from .gate import EXCHANGE, Exchange, Gate, Parts, RouteLabels
from .hosts import HostPolicy
from .production import Admission
from .run_flow import RunFlow

log = logging.getLogger("aichatflow.server")
_SLOW_BODIES = ThrottledWarning(log, "408 answered to %d more slow request bodies")

MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects accepted in a chat request body (the body itself is
level 1). Real requests stay far below: a message's content parts sit at level 4, and a tool's
JSON-schema ``parameters`` start at level 5 and rarely nest 20 more. Deeper documents are
refused with a 400 at parse time, because everything after the parse has a limit of its own
somewhere between 255 and 1024 levels (pydantic's serialiser, orjson's encoder, a provider's
JSON encoder) that would otherwise fail as a 500 or a mid-stream ``internal_error``."""

Build = Callable[[Registry, StreamLimits, ChatRequest], EventStreamResponse]
"""Turns a valid request into its response (raising AIChatFlowError for a 4xx answer)."""
Convert = Callable[[dict[str, Any]], ChatRequest]
"""Turns a parsed JSON body into a ``ChatRequest`` (422 ``ValidationFailed`` when it is not
one): ``ChatRequest`` validation itself for the OpenAI-shaped endpoints, a dialect's own body
(Anthropic's Messages request) otherwise."""


class ClientLeft(Exception):
    """The client disconnected before its request body was complete: nothing to answer."""


def require_json(scope: Scope) -> None:
    """415 unless the request says ``Content-Type: application/json`` (parameters such as
    ``; charset=utf-8`` allowed, case-insensitive); checked before the body is read.

    Why not sniff the body instead: the header is what makes a browser ask first. A page on any
    other origin may ``POST`` ``text/plain`` (a "simple" request, no CORS preflight) to a server
    on localhost; JSON it may not send without a preflight this server never grants. So the
    content type, not the body, is what keeps drive-by pages from reaching a provider's key.
    """
    for name, value in scope["headers"]:
        if name == b"content-type":
            if value.split(b";", 1)[0].strip().lower() == b"application/json":
                return
            got = repr(value.decode("latin-1")[:100])
            raise UnsupportedMediaType(f"Content-Type must be application/json, not {got}")
    raise UnsupportedMediaType("Content-Type must be application/json (none was sent)")


async def read_body(
    scope: Scope, receive: Receive, max_bytes: int, timeout: float | None = None
) -> bytes:
    """The whole request body, refused with 413 as soon as it passes ``max_bytes``.

    A declared ``Content-Length`` over the limit is refused before reading; a chunked body is
    counted as it arrives (a Content-Length check alone is bypassed by chunked uploads).
    ``timeout`` bounds the whole read, 408 past it: a body that never completes (a client that
    declared more than it sends) would otherwise hold its connection forever, on any server.
    """
    for name, value in scope["headers"]:
        if name == b"content-length":
            if value.isdigit() and int(value) > max_bytes:
                raise BodyTooLarge(max_bytes)
            break
    chunks: list[bytes] = []
    size = 0
    deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
    while True:
        try:
            async with asyncio.timeout_at(deadline):
                message = await receive()
        except TimeoutError:
            _SLOW_BODIES.warn("408: a request body was not received within %g s", timeout)
            raise BodyTimeout(timeout or 0) from None
        if message["type"] == "http.disconnect":
            raise ClientLeft
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge(max_bytes)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def validate_chat_request(data: dict[str, Any]) -> ChatRequest:
    """422 (with pydantic's error locations) unless ``data`` is a ``ChatRequest``."""
    try:
        return ChatRequest.model_validate(data)
    except ValidationError as exc:
        details = exc.errors(include_url=False, include_input=False, include_context=False)
        raise ValidationFailed([dict(d) for d in details]) from None


def parse_chat_request(
    body: bytes,
    *,
    default_model: str | None = None,
    convert: Convert = validate_chat_request,
) -> ChatRequest:
    """400 for bad JSON, 422 (with pydantic's error locations) for a bad shape.

    With ``default_model``, a body without ``"model"`` (or with ``null``) asks for it: the
    server has a default model, so a caller need not name one. ``ChatRequest.model`` stays a
    required ``str`` for library users; the default is filled in here, before validation.
    ``convert`` turns the JSON object into the request (``Convert``).
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise RequestError("request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ValidationFailed([{"loc": ("body",), "msg": "expected a JSON object"}])
    _check_depth(data, body)
    if default_model is not None and data.get("model") is None:
        data["model"] = default_model
    return convert(data)


def _check_depth(data: dict[str, Any], body: bytes) -> None:
    """400 when ``data`` nests deeper than ``MAX_JSON_DEPTH``; one pass over the containers.

    A body with no more opening brackets than the limit (most requests) cannot nest deeper, so
    it is not walked at all (``bytes.count`` runs at memory speed; brackets inside strings only
    make the bound looser). Otherwise the containers are walked level by level, iteratively:
    a recursive walk would itself hit Python's recursion limit on the documents it must refuse.
    """
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return
    level: list[Any] = [data]
    for _ in range(MAX_JSON_DEPTH):
        below: list[Any] = []
        for node in level:
            for child in node.values() if type(node) is dict else node:
                if type(child) is dict or type(child) is list:
                    below.append(child)
        if not below:
            return
        level = below
    raise RequestError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")


class ChatEndpoint:
    """``POST`` a chat request, get a stream; a plain ASGI app (see the module docstring)."""

    def __init__(self, build: Build, convert: Convert = validate_chat_request) -> None:
        self.build = build
        self.convert = convert

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gate: Gate | None = getattr(scope["app"], "gate", None)
        parts = gate.parts if gate is not None else Parts()
        exchange: Exchange = scope.get(EXCHANGE) or bare_exchange(scope)
        prepared = await self._prepare(scope, receive, send, parts, exchange)
        if prepared is None:
            return
        response, admission, chat = prepared
        flow: RunFlow | None = getattr(scope["app"].state, "run_flow", None)
        if flow is None:
            await stream_admitted(scope, receive, send, parts, response, admission, exchange.record)
            return
        try:
            await flow.serve(scope, receive, send, parts, response, admission, exchange, chat)
        except AIChatFlowError as exc:  # refused before the stream started (run_flow.py)
            await send_error(scope, send, exc, exchange.headers)

    async def _prepare(
        self, scope: Scope, receive: Receive, send: Send, parts: Parts, exchange: Exchange
    ) -> tuple[EventStreamResponse, Admission | None, ChatRequest] | None:
        """Everything before the stream, in its own frame so the body is freed before it."""
        state = scope["app"].state
        try:
            require_json(scope)
            settings = state.settings
            body = await read_body(
                scope, receive, settings.max_body_bytes, settings.http.body_timeout
            )
            chat = parse_chat_request(
                body, default_model=settings.default_model, convert=self.convert
            )
            exchange.record.model = chat.model
            if parts.keys is not None:  # before the model is looked up: no existence oracle
                parts.keys.authorize_model(exchange.caller, chat.model)
            response = self.build(state.registry, state.limits, chat)
            admission = await admit(parts, settings, exchange, chat, response, len(body))
            return response, admission, chat
        except ClientLeft:
            return None
        except AIChatFlowError as exc:
            await send_error(scope, send, exc, exchange.headers)
        except Exception:
            log.exception("%s %s: unexpected error", scope["method"], scope["path"])
            await send_error(scope, send, AIChatFlowError(INTERNAL_ERROR), exchange.headers)
        return None


class ChatApp(Starlette):
    """Starlette, with ``POST`` to the chat endpoints dispatched before the middleware stack.

    The ``Host`` check (``server/hosts.py``) comes first of all, so it covers the short cut,
    every route and any middleware a user adds.
    """

    def __init__(
        self,
        chat: dict[str, ChatEndpoint],
        *,
        hosts: HostPolicy,
        parts: Parts | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.chat_endpoints = chat
        self.hosts = hosts
        self.gate = Gate(parts or Parts(), RouteLabels(self.routes))
        """The production layer (``server/gate.py``), in front of every HTTP request."""
        self._own_middleware = len(self.user_middleware)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "lifespan" and not self.hosts.allows(scope):
            await self.hosts.reject(scope, receive, send)
            return
        if kind != "http":
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self
        if scope["method"] == "POST":
            endpoint = self.chat_endpoints.get(scope["path"])
            if endpoint is not None and len(self.user_middleware) == self._own_middleware:
                await self.gate(scope, receive, send, endpoint, wrap=False)
                return
        await self.gate(scope, receive, send, super().__call__)


__all__ = [
    "MAX_JSON_DEPTH",
    "ChatApp",
    "ChatEndpoint",
    "parse_chat_request",
    "read_body",
    "require_json",
    "validate_chat_request",
]
