"""The one table of error codes: for each, its HTTP status, whether a retry can help, and what
it means.

Everything else is derived from ``ERRORS``: ``ERROR_CODES``, ``HTTP_STATUS_BY_CODE``,
``RETRYABLE_CODES``, the ``http_status`` and ``retryable`` of every exception in
``aichatflow.errors`` (an exception class names its code, nothing more) and the error table of
docs/protocol.md (a test compares them). So a code cannot answer 413 in one place and 400 in
another, or be retried by the engine and not by the retry loop. A new code is one line here.

The status is what the code is answered with when it happens before the response headers; after
them the status is already 200 and the code travels in the dialect's terminal error frame.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class ErrorKind:
    """What one error code means everywhere it is answered."""

    status: int
    """The HTTP status when the error comes before the response headers."""
    retryable: bool
    """Whether the same request, sent again (after ``Retry-After`` if given), may succeed."""
    meaning: str
    """One line for docs/protocol.md: when this code is answered."""


ERRORS: Mapping[str, ErrorKind] = MappingProxyType(
    {
        # The caller's request, refused before any provider sees it.
        "bad_request": ErrorKind(
            400,
            False,
            "the request is invalid: not JSON, nested too deep, an option aichatflow does not "
            "support (`n` > 1), a `Host` this server does not answer to; also an upstream 4xx "
            "other than 401, 402, 403, 408, 409 and 429 (the upstream refused what was sent)",
        ),
        "validation_failed": ErrorKind(
            422,
            False,
            "the body is JSON but not a valid request (a missing or wrong field, more than "
            "1,000 messages); `details` holds pydantic's error locations",
        ),
        "unauthorized": ErrorKind(
            401,
            False,
            "no API key, a key this server does not know or has disabled, or a ticket that is "
            "unknown, used or expired (only when keys are configured)",
        ),
        "forbidden": ErrorKind(
            403, False, "the key may not use that model (its `models` globs), or that route"
        ),
        "unknown_model": ErrorKind(404, False, "no provider, alias or model by that name"),
        "not_found": ErrorKind(
            404, False, "no route at that path, or no stored conversation by that id for the key"
        ),
        "method_not_allowed": ErrorKind(
            405, False, "the route does not take that method (`Allow` lists the ones it does)"
        ),
        "request_timeout": ErrorKind(
            408,
            True,
            "the request head (`header_timeout`) or body (`body_timeout`) did not arrive in time",
        ),
        "body_too_large": ErrorKind(
            413,
            False,
            "the body is over `max_body_bytes` (a chunked body without `Content-Length` too)",
        ),
        "unsupported_media_type": ErrorKind(
            415, False, "a chat `POST` whose `Content-Type` is not `application/json`"
        ),
        "headers_too_large": ErrorKind(
            431,
            False,
            "the request head is over `max_header_bytes` or has more than `max_headers` fields",
        ),
        "rate_limited": ErrorKind(
            429,
            True,
            "a limit of the key (`rpm`, `tpm`, `max_streams`) or of an anonymous caller's "
            "address (`ip_rpm`) is reached; `Retry-After` and `x-ratelimit-*` say until when",
        ),
        "over_capacity": ErrorKind(
            503,
            True,
            "every connection the server allows (`max_connections`) is busy, or every stream "
            "slot (`[limits] max_streams`); `Retry-After` says when to try again",
        ),
        # The upstream (the provider behind a model) failed.
        "upstream_auth": ErrorKind(
            502,
            False,
            "the upstream refused the provider key or the account (401, 402, 403, no credit)",
        ),
        "upstream_rate_limited": ErrorKind(
            429,
            True,
            "the upstream said 429 and retries were used up or not allowed (`Retry-After` when "
            "the upstream gave one)",
        ),
        "upstream_overloaded": ErrorKind(
            503, True, 'the upstream said 503 or 529, or sent an in-band "overloaded" error'
        ),
        "upstream_error": ErrorKind(
            502, True, "any other upstream failure (409, 5xx, an in-band error object)"
        ),
        "upstream_timeout": ErrorKind(
            504,
            True,
            "no first token in time, no content progress in time, the upstream socket idle "
            "too long, or an upstream 408/504",
        ),
        "upstream_disconnected": ErrorKind(
            502, True, "the upstream connection ended before the stream was complete"
        ),
        "upstream_bad_response": ErrorKind(
            502,
            False,
            "the upstream sent something that is not its protocol (invalid JSON, wrong shape)",
        ),
        "event_too_large": ErrorKind(
            502, False, "one upstream event grew past the provider's `max_event_bytes`"
        ),
        # The stream itself.
        "stream_too_long": ErrorKind(504, True, "the stream reached `[stream] max_duration`"),
        "cancelled": ErrorKind(499, False, "the stream was cancelled"),
        # Resuming a journaled stream (docs/journal.md).
        "unknown_stream": ErrorKind(
            404,
            False,
            "no stream by that id for this key (never existed, long forgotten, or another "
            "key's: the same answer for all three)",
        ),
        "resume_expired": ErrorKind(
            410, False, "the stream existed but is no longer kept; send the request again"
        ),
        "producer_lost": ErrorKind(
            503,
            True,
            "the server generating the answer stopped without ending it; send the request again",
        ),
        "server_shutting_down": ErrorKind(
            503,
            True,
            "the server is stopping; another instance (or this one, restarted) can serve the "
            "request",
        ),
        "internal_error": ErrorKind(
            500, False, "a bug in aichatflow or in a library user's producer"
        ),
    }
)
"""Every error code aichatflow answers, in the order docs/protocol.md lists them."""

ERROR_CODES: frozenset[str] = frozenset(ERRORS)

HTTP_STATUS_BY_CODE: Mapping[str, int] = MappingProxyType(
    {code: kind.status for code, kind in ERRORS.items()}
)
"""The HTTP status for each error code, used when a failure happens before the headers."""

RETRYABLE_CODES: frozenset[str] = frozenset(code for code, kind in ERRORS.items() if kind.retryable)


def status_of(code: str) -> int:
    """The HTTP status of ``code``; 500 for a code the table does not know (a library user's
    own ``StreamError``)."""
    kind = ERRORS.get(code)
    return kind.status if kind is not None else 500


__all__ = [
    "ERRORS",
    "ERROR_CODES",
    "HTTP_STATUS_BY_CODE",
    "RETRYABLE_CODES",
    "ErrorKind",
    "status_of",
]
