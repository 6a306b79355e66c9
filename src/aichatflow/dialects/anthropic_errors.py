"""Anthropic's error shape for ``/v1/messages``: ``{"type": "error", "error": {...}}``.

The official ``anthropic`` SDK picks its exception class from the HTTP status
(``AuthenticationError`` for 401, ``RateLimitError`` for 429, ``InternalServerError`` for 5xx...)
and shows the body; the ``error.type`` it documents is one of a closed set, so an aichatflow code
is mapped to the type of its status, and kept verbatim in ``error.code`` for callers that want
it. The same object is the data of the in-stream ``event: error`` frame, which the SDK raises as
``APIStatusError``. ``x-should-retry: false`` on every error response: aichatflow already retried
the upstream, and the SDK would retry twice more on top.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..error_codes import status_of
from ..events import StreamError
from .error_shape import ErrorShape

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


def anthropic_error_type(code: str) -> str:
    """The Anthropic ``error.type`` of an aichatflow code, by the code's HTTP status."""
    return _TYPES.get(status_of(code), "api_error")


class AnthropicErrorShape(ErrorShape):
    name = "anthropic"
    headers = ((b"x-should-retry", b"false"),)

    def fields(self, error: StreamError, request_id: str) -> dict[str, Any]:
        return {
            "type": anthropic_error_type(error.code),
            "message": error.message,
            "code": error.code,
        }

    def body(self, error: StreamError, request_id: str, details: Any = None) -> bytes:
        """Anthropic's envelope (``type: error`` beside the object, and the request id)."""
        fields = self.fields(error, request_id)
        if details is not None:
            fields["details"] = details
        return orjson.dumps({"type": "error", "error": fields, "request_id": request_id})


ANTHROPIC_ERRORS = AnthropicErrorShape()

__all__ = ["ANTHROPIC_ERRORS", "AnthropicErrorShape", "anthropic_error_type"]
