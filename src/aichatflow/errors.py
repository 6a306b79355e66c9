"""One root exception, a small tree, one status mapper.

::

    AIChatFlowError                      code
    ├── ConfigError                      internal_error        (a developer mistake)
    ├── RequestError                     bad_request           (the caller's request)
    │   ├── BodyTimeout                  request_timeout       (a body that never ended)
    │   ├── UnknownModel                 unknown_model
    │   ├── UnknownStream                unknown_stream
    │   ├── BodyTooLarge                 body_too_large
    │   ├── UnsupportedMediaType         unsupported_media_type (a body not sent as JSON)
    │   ├── ConversationNotFound         not_found             (unknown, or another key's)
    │   └── ValidationFailed             validation_failed     (JSON, not a valid request)
    ├── EventTooLarge                    event_too_large
    └── ProviderError                    upstream_error        (carries provider, status;
        │                                                       409, other 5xx)
        ├── UpstreamAuth                 upstream_auth         (401/402/403, no credit)
        ├── UpstreamBadRequest           bad_request           (other 4xx upstream)
        ├── UpstreamRateLimited          upstream_rate_limited (retry_after)
        ├── UpstreamOverloaded           upstream_overloaded   (503/529)
        ├── UpstreamTimeout              upstream_timeout
        ├── UpstreamDisconnected         upstream_disconnected
        └── UpstreamBadResponse          upstream_bad_response

A class names its ``code`` and nothing else: its ``http_status`` and ``retryable`` come from the
one table of codes, ``aichatflow.error_codes.ERRORS`` (a class whose code is not in the table,
or that sets either itself, is refused when it is defined).

Only ``error_from_status`` builds status errors (never classify by message text); in-band errors
(an error inside a 200 response) are typed by each provider's parser from the upstream's
structured ``code``/``type``/``status`` fields, with ``error_for_code`` (and
``upstream_status_code`` for an HTTP status written inside one).

What is never retried, and why: ``upstream_auth`` means the upstream refused the key or the
account, and another attempt would be refused the same way. It covers 401 and 403, their in-band
forms (OpenAI's ``invalid_api_key`` code, Anthropic's ``authentication_error``,
``permission_error`` and ``billing_error``, Gemini's ``UNAUTHENTICATED``, ``PERMISSION_DENIED``
and ``API_KEY_INVALID``), and an account without credit: HTTP 402 and OpenAI's
``insufficient_quota``, which OpenAI sends with a 429 although no wait cures it. A rate limit
(any other 429, Gemini's ``RESOURCE_EXHAUSTED``) stays retryable: it does pass. None of these is
the caller's fault, so a fallback chain still moves on to its next deployment. ``bad_request``
(other 4xx, an in-band ``invalid_request_error``) is the request's own and fails alike anywhere.

Messages are safe to show a user: an upstream's own message goes through ``redacted_excerpt``
(``aichatflow.redaction``, re-exported here).

Who words an error on the wire: the dialect of the endpoint that answers it
(``aichatflow.dialects.error_shape``), before the headers (a status and a JSON body) and after
them (its terminal error frame), with the same message either way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import orjson

from .error_codes import ERROR_CODES, ERRORS, HTTP_STATUS_BY_CODE, RETRYABLE_CODES
from .redaction import MESSAGE_LIMIT, REDACTED, redact, redacted_excerpt


class AIChatFlowError(Exception):
    """Root of every error aichatflow raises on purpose.

    A subclass sets ``code`` only; ``http_status`` and ``retryable`` are read from the table of
    codes (``error_codes.ERRORS``), so no class can disagree with it.
    """

    code: ClassVar[str] = "internal_error"
    details: Any = None
    """Extra structured detail for the JSON error (``ValidationFailed``'s locations)."""
    retry_after: float | None = None
    """Seconds after which a retry may succeed (``Retry-After``), when that is known."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.code not in ERRORS:
            raise TypeError(f"{cls.__name__}.code {cls.code!r} is not in error_codes.ERRORS")
        for name in ("http_status", "retryable"):
            if name in cls.__dict__:
                raise TypeError(f"{cls.__name__} sets {name}: error_codes.ERRORS decides it")

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def http_status(self) -> int:
        """The status of this error's code, when it is answered before the headers."""
        return ERRORS[self.code].status

    @property
    def retryable(self) -> bool:
        return ERRORS[self.code].retryable

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message, "retryable": self.retryable}


class ConfigError(AIChatFlowError):
    """The configuration is wrong: a developer mistake, reported at start-up."""


class RequestError(AIChatFlowError):
    """The caller's request is invalid."""

    code = "bad_request"


class UnknownModel(RequestError):
    code = "unknown_model"

    def __init__(self, model: str, known: Iterable[str] = ()) -> None:
        listed = ", ".join(sorted(known)[:20])
        hint = f"; known providers and aliases: {listed}" if listed else ""
        super().__init__(f"unknown model {model!r}{hint}")
        self.model = model


class UnknownStream(RequestError):
    """A resume or Stop for a stream this key cannot see: one answer (and one message) for an
    id that never existed and for another key's, so the answer is no existence oracle."""

    code = "unknown_stream"

    def __init__(self) -> None:
        super().__init__("no such stream")


class BodyTimeout(RequestError):
    """The request body did not arrive within ``body_timeout`` (``HttpSettings``)."""

    code = "request_timeout"

    def __init__(self, timeout: float) -> None:
        super().__init__(f"the request body was not received within {timeout:g} s")
        self.timeout = timeout


class BodyTooLarge(RequestError):
    code = "body_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than {limit} bytes")
        self.limit = limit


class Unauthorized(RequestError):
    """No valid credential (401). The message never repeats the key that was sent, beyond the
    last four characters (enough for its owner to tell which one it was)."""

    code = "unauthorized"


class Forbidden(RequestError):
    """A valid key asked for something it may not use (403): a model outside its globs."""

    code = "forbidden"


class Refused(AIChatFlowError):
    """A request refused by a limit before any upstream call, with the headers that say why.

    ``headers`` (``Retry-After`` is rendered from ``retry_after``; these are the others, such as
    OpenAI's ``x-ratelimit-*``) go on the error response.
    """

    code = "rate_limited"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float,
        headers: Iterable[tuple[bytes, bytes]] = (),
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.headers = list(headers)


class RateLimited(Refused):
    """429: a per-key or per-address limit is used up."""

    code = "rate_limited"


class OverCapacity(Refused):
    """503: the server's own capacity (``[limits] max_streams``) is used up."""

    code = "over_capacity"


class UnsupportedMediaType(RequestError):
    """A chat ``POST`` whose ``Content-Type`` is not ``application/json``.

    Refused because a page on any other origin can make a browser send a "simple" cross-site
    ``POST`` (``text/plain``, no CORS preflight) to a server on localhost; only JSON, which a
    browser will not send cross-site without a preflight, may reach a provider and its key.
    """

    code = "unsupported_media_type"


class ConversationNotFound(RequestError):
    """No conversation by that id for this caller (404). One message for an id that does not
    exist and for another key's, so the answer says nothing about other keys' conversations."""

    code = "not_found"

    def __init__(self) -> None:
        super().__init__("conversation not found")


class ValidationFailed(RequestError):
    """The body is JSON but not a valid request (422, with pydantic's error locations)."""

    code = "validation_failed"

    def __init__(self, details: list[dict[str, Any]]) -> None:
        first = details[0] if details else {}
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        super().__init__(f"invalid request: {where}: {first.get('msg', 'invalid value')}")
        self.details = details


class EventTooLarge(AIChatFlowError):
    """One upstream event exceeded ``max_event_bytes``: refusing to buffer more."""

    code = "event_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"an upstream event exceeded {limit} bytes")
        self.limit = limit


class ProviderError(AIChatFlowError):
    """The upstream failed. ``status_code`` is the upstream's HTTP status, when there was one."""

    code = "upstream_error"

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.status_code = status_code
        self.retry_after = retry_after


class UpstreamAuth(ProviderError):
    code = "upstream_auth"


class UpstreamBadRequest(ProviderError):
    code = "bad_request"


class UpstreamRateLimited(ProviderError):
    code = "upstream_rate_limited"


class UpstreamOverloaded(ProviderError):
    code = "upstream_overloaded"


class UpstreamTimeout(ProviderError):
    code = "upstream_timeout"


class UpstreamDisconnected(ProviderError):
    code = "upstream_disconnected"


class UpstreamBadResponse(ProviderError):
    code = "upstream_bad_response"


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds); None if absent."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw is not None:
        try:
            return max(0.0, float(raw))
        except ValueError:
            return None  # HTTP-date form: rare for APIs; fall back to our own backoff
    return None


def upstream_message(body: bytes, fallback: str, secrets: Iterable[str] = ()) -> str:
    """A human message from an upstream error body (OpenAI, vLLM, Anthropic, Gemini...), safe
    to show: the whole message is redacted, then cut (``redacted_excerpt``)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace").strip()
        return redacted_excerpt(text, secrets) or fallback
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            msg = err.get("message") or err.get("detail")
            if isinstance(msg, str) and msg:
                return redacted_excerpt(msg, secrets)
        elif isinstance(err, str) and err:
            return redacted_excerpt(err, secrets)
    return fallback


_BY_STATUS: dict[int, type[ProviderError]] = {
    400: UpstreamBadRequest,
    401: UpstreamAuth,
    402: UpstreamAuth,  # Payment Required (DeepSeek's "Insufficient Balance"): the account
    403: UpstreamAuth,
    404: UpstreamBadRequest,  # no such model (or path) upstream: the same request fails again
    408: UpstreamTimeout,
    409: ProviderError,  # Conflict: OpenAI's docs say retry (a lock held upstream), as its SDK does
    429: UpstreamRateLimited,
    503: UpstreamOverloaded,
    504: UpstreamTimeout,
    529: UpstreamOverloaded,
}
"""The upstream HTTP statuses that say something specific; any other 4xx is a bad request and
any other status an ``upstream_error``."""


def upstream_status_code(status: int | None) -> str | None:
    """The error code an upstream HTTP status means, for the statuses in ``_BY_STATUS``; None
    for the others. For a status written *inside* an in-band error, where a parser that gets
    None goes on to the error's other fields (its ``type``) rather than to a generic code."""
    cls = _BY_STATUS.get(status) if status is not None else None
    return cls.code if cls is not None else None


def _provider_classes(cls: type[ProviderError]) -> list[type[ProviderError]]:
    return [cls, *(c for sub in cls.__subclasses__() for c in _provider_classes(sub))]


_BY_CODE: dict[str, type[ProviderError]] = {
    cls.code: cls for cls in reversed(_provider_classes(ProviderError))
}
"""Each provider code's class, from the tree above (``ProviderError`` itself for
``upstream_error``)."""


def error_for_code(code: str, message: str, *, provider: str = "") -> ProviderError:
    """A provider error for an ``upstream_*`` or ``bad_request`` code (in-band errors, mocks)."""
    return _BY_CODE.get(code, ProviderError)(message, provider=provider)


_NO_CREDIT = "insufficient_quota"


def _no_credit(body: bytes) -> bool:
    """Whether an error body's structured ``code`` or ``type`` says the account has no credit."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    err = data.get("error") if isinstance(data, dict) else None
    return isinstance(err, dict) and _NO_CREDIT in (err.get("code"), err.get("type"))


def error_from_status(
    status: int,
    body: bytes,
    headers: Mapping[str, str],
    *,
    provider: str,
    secrets: Iterable[str] = (),
) -> ProviderError:
    """Map an upstream HTTP error response to one typed error (headers must be lower-cased)."""
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = UpstreamBadRequest if 400 <= status < 500 else ProviderError
    if _no_credit(body):
        cls = UpstreamAuth  # OpenAI says so with a 429, but waiting will not bring credit back
    message = upstream_message(body, f"HTTP {status}", secrets)
    return cls(
        f"{provider}: {message}",
        provider=provider,
        status_code=status,
        retry_after=parse_retry_after(headers),
    )


__all__ = [
    "ERRORS",
    "ERROR_CODES",
    "HTTP_STATUS_BY_CODE",
    "MESSAGE_LIMIT",
    "REDACTED",
    "RETRYABLE_CODES",
    "AIChatFlowError",
    "BodyTimeout",
    "BodyTooLarge",
    "ConfigError",
    "ConversationNotFound",
    "EventTooLarge",
    "Forbidden",
    "OverCapacity",
    "ProviderError",
    "RateLimited",
    "Refused",
    "RequestError",
    "Unauthorized",
    "UnknownModel",
    "UnknownStream",
    "UnsupportedMediaType",
    "UpstreamAuth",
    "UpstreamBadRequest",
    "UpstreamBadResponse",
    "UpstreamDisconnected",
    "UpstreamOverloaded",
    "UpstreamRateLimited",
    "UpstreamTimeout",
    "ValidationFailed",
    "error_for_code",
    "error_from_status",
    "parse_retry_after",
    "redact",
    "redacted_excerpt",
    "upstream_message",
    "upstream_status_code",
]
