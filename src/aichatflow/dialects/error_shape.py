"""How a dialect words an error, the one place it does, before the response headers and after.

Every error an endpoint answers is rendered by the error shape of the dialect it speaks: the
native protocol's, OpenAI's, and whichever dialect comes next (it brings its own shape, and the
server answers the errors of the paths it is mounted under with it: ``server/errors.py``). A
shape makes the error's JSON object (``fields``). Before the headers, ``response`` wraps it as
``{"error": {...}}`` with the code's HTTP status from ``error_codes.ERRORS``, the shape's own
headers, ``x-request-id`` and ``Retry-After``; after them, the dialect writes the same object
in its terminal frame. So one error reads the same whichever side of the headers it falls on,
and the message is never reworded by a shape (the code is in its own field).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

import orjson

from ..error_codes import status_of
from ..events import StreamError

Headers = list[tuple[bytes, bytes]]

_JSON: Headers = [(b"content-type", b"application/json")]


def retry_after_headers(error: StreamError) -> Headers:
    """``Retry-After`` (whole seconds, rounded up) when the error says how long to wait."""
    if error.retry_after is None:
        return []
    return [(b"retry-after", b"%d" % math.ceil(error.retry_after))]


class ErrorShape(ABC):
    """One dialect's error object; subclasses define ``fields`` (and ``headers`` if needed)."""

    name: str = ""
    headers: tuple[tuple[bytes, bytes], ...] = ()
    """Headers of every error response in this shape, besides content type, request id and
    ``Retry-After``."""

    @abstractmethod
    def fields(self, error: StreamError, request_id: str) -> dict[str, Any]:
        """The error object itself: the data of the terminal frame, inside ``{"error": ...}``
        in a JSON body."""

    def body(self, error: StreamError, request_id: str, details: Any = None) -> bytes:
        """``{"error": {...}}``, plus ``details`` inside when there are some."""
        fields = self.fields(error, request_id)
        if details is not None:
            fields["details"] = details
        return orjson.dumps({"error": fields})

    def response(
        self, error: StreamError, request_id: str, *, status: int = 0, details: Any = None
    ) -> tuple[int, Headers, bytes]:
        """A whole response for an error before any header was sent: status, headers, body.

        ``status`` is the code's own (``error_codes.ERRORS``) unless given; only an error that
        is not aichatflow's (a ``HTTPException`` of a route added to the app) brings another.
        """
        body = self.body(error, request_id, details)
        headers = [*_JSON, *self.headers, (b"x-request-id", request_id.encode("ascii"))]
        headers += retry_after_headers(error)
        headers.append((b"content-length", b"%d" % len(body)))
        return status or status_of(error.code), headers, body

    def __repr__(self) -> str:
        return f"<{self.name} error shape>"


__all__ = ["ErrorShape", "Headers", "retry_after_headers"]
