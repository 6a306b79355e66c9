"""Errors before the stream starts: an HTTP status and a JSON body, never a traceback.

The body follows the caller's dialect: OpenAI's ``{"error": {"message", "type", "code",
"param"}}`` under ``/v1`` (so SDKs parse it), and ``{"error": {"code", "message", ...}}``
elsewhere. Under ``/v1``, ``x-should-retry: false`` tells SDK clients that aichatflow has already
done the retrying.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from ..errors import AIChatFlowError, RequestError

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


def error_payload(
    scope: Scope, code: str, message: str, *, details: Any = None, retryable: bool = False
) -> dict[str, Any]:
    if str(scope.get("path", "")).startswith("/v1/"):
        err: dict[str, Any] = {"message": message, "type": code, "code": code, "param": None}
    else:
        err = {"code": code, "message": message, "retryable": retryable}
    if details is not None:
        err["details"] = details
    return {"error": err}


def json_error_response(scope: Scope, exc: AIChatFlowError, details: Any = None) -> Response:
    headers = {"x-should-retry": "false"} if str(scope.get("path", "")).startswith("/v1/") else {}
    payload = error_payload(scope, exc.code, exc.message, details=details, retryable=exc.retryable)
    return JSONResponse(payload, status_code=exc.http_status, headers=headers)


class ValidationFailed(RequestError):
    """The body is JSON but not a valid request (422, with pydantic's error locations)."""

    http_status = 422

    def __init__(self, details: list[dict[str, Any]]) -> None:
        first = details[0] if details else {}
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        super().__init__(f"invalid request: {where}: {first.get('msg', 'invalid value')}")
        self.details = details


async def handle_aichatflow_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AIChatFlowError)
    details = exc.details if isinstance(exc, ValidationFailed) else None
    return json_error_response(request.scope, exc, details)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "bad_request")
    payload = error_payload(request.scope, code, str(exc.detail))
    return JSONResponse(payload, status_code=exc.status_code, headers=exc.headers)


__all__ = [
    "ValidationFailed",
    "error_payload",
    "handle_aichatflow_error",
    "handle_http_exception",
    "json_error_response",
]
