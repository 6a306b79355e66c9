"""Errors answered before any stream, in the error shape of the dialect their path speaks.

Which dialect's shape answers a path is decided here and nowhere else: ``ERROR_SHAPES`` maps a
path prefix to the shape of the dialect mounted under it (Anthropic's under ``/v1/messages``,
OpenAI's under the rest of ``/v1``), and every other path gets the native protocol's. Every
error answered before a dialect object exists comes through here: a chat endpoint's bad request
(415, 413, 408, 400, 422, 404 for an unknown model), routing's 404 and 405, the ``Host`` guard's
400, a route's unexpected 500, and the refusals ``guarded_protocol.py`` writes as raw bytes
before the app is reached (431, 408, 503 ``over_capacity``, 400 for bytes that are not HTTP).
The status of each is its code's (``error_codes.ERRORS``), the body and headers the shape's
(``dialects/error_shape.py``), and the message is the same in every shape.

A dialect mounted under a new prefix (Anthropic's Messages API, Vercel's UI stream) brings its
``ErrorShape`` and adds one line to ``ERROR_SHAPES``; after the headers, its dialect object
words the terminal error with the same shape.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope, Send

from ..dialects.anthropic_errors import ANTHROPIC_ERRORS
from ..dialects.error_shape import ErrorShape, Headers
from ..dialects.native import NATIVE_ERRORS
from ..dialects.openai import OPENAI_ERRORS
from ..error_codes import ERRORS
from ..errors import AIChatFlowError
from ..events import StreamError
from ..request_record import current_record
from ..stream.response import new_stream_id

ERROR_SHAPES: tuple[tuple[str, ErrorShape], ...] = (
    ("/v1/messages", ANTHROPIC_ERRORS),
    ("/v1", OPENAI_ERRORS),
)
"""Path prefix (whole segments: ``/v1`` covers ``/v1`` and ``/v1/...``, not ``/v1beta``) →
the error shape of the dialect mounted there; the first match wins."""
DEFAULT_ERROR_SHAPE: ErrorShape = NATIVE_ERRORS
"""Every other path: the native protocol's shape (``/api/chat``, unknown paths, ``/``)."""

INTERNAL_ERROR = "internal error"
"""The whole message of an unexpected failure: what failed is for the server's log only."""

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}
"""The routing errors Starlette raises as ``HTTPException``, by status."""


def error_shape_for(path: str) -> ErrorShape:
    """The error shape of the dialect that answers ``path`` (see ``ERROR_SHAPES``)."""
    for prefix, shape in ERROR_SHAPES:
        if path.startswith(prefix) and path[len(prefix) : len(prefix) + 1] in ("", "/"):
            return shape
    return DEFAULT_ERROR_SHAPE


def stream_error(exc: AIChatFlowError) -> StreamError:
    """What a shape renders of ``exc``: its code, message, retryability and wait."""
    return StreamError(
        code=exc.code, message=exc.message, retryable=exc.retryable, retry_after=exc.retry_after
    )


def error_event(code: str, message: str, *, retry_after: float | None = None) -> StreamError:
    """An error of ``code`` that has no exception (routing, raw refusals), retryable as the
    table says."""
    return StreamError(
        code=code, message=message, retryable=ERRORS[code].retryable, retry_after=retry_after
    )


def render_error(
    path: str, error: StreamError, *, status: int = 0, details: Any = None
) -> tuple[int, Headers, bytes]:
    """Status, headers and body of ``error`` answered at ``path``, with the request's id (a
    fresh one outside a request: the raw refusals written before the app runs)."""
    shape = error_shape_for(path)
    record = current_record.get()
    request_id = record.request_id if record is not None else new_stream_id()
    return shape.response(error, request_id, status=status, details=details)


async def send_error(
    scope: Scope, send: Send, exc: AIChatFlowError, extra: Headers | None = None
) -> None:
    """Answer ``exc`` on a plain ASGI connection whose response has not started; ``extra``
    headers are added (CORS, rate-limit state), and those a refusal brings (``Refused``)."""
    status, headers, body = render_error(scope["path"], stream_error(exc), details=exc.details)
    headers = [*headers, *(extra or ()), *getattr(exc, "headers", ())]
    record = current_record.get()
    if record is not None:
        record.status = status
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _response(rendered: tuple[int, Headers, bytes], extra: Headers | None = None) -> Response:
    status, headers, body = rendered
    response = Response(body, status_code=status)
    response.raw_headers = [*headers, *(extra or ())]
    return response


async def handle_aichatflow_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AIChatFlowError)
    return _response(render_error(request.scope["path"], stream_error(exc), details=exc.details))


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's routing errors (404, 405 with ``Allow``) and a route's own ``HTTPException``:
    its status is kept, its code is the table's for it (else ``bad_request`` or
    ``internal_error``)."""
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    code = _HTTP_CODES.get(status, "bad_request" if status < 500 else "internal_error")
    error = error_event(code, str(exc.detail))
    given = exc.headers or {}
    extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in given.items()]
    return _response(render_error(request.scope["path"], error, status=status), extra)


async def handle_unexpected_error(request: Request, exc: Exception) -> Response:
    """A route failed (a bug): 500 ``internal_error`` in the path's shape, never a traceback.
    Starlette then re-raises the exception, and the server logs it with its traceback."""
    error = error_event("internal_error", INTERNAL_ERROR)
    return _response(render_error(request.scope["path"], error))


__all__ = [
    "DEFAULT_ERROR_SHAPE",
    "ERROR_SHAPES",
    "INTERNAL_ERROR",
    "error_event",
    "error_shape_for",
    "handle_aichatflow_error",
    "handle_http_exception",
    "handle_unexpected_error",
    "render_error",
    "send_error",
    "stream_error",
]
