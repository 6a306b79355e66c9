"""One root exception, a small tree, one status mapper.

::

    AIChatFlowError                      code              HTTP   retryable
    ├── ConfigError                      internal_error    500    no   (a developer mistake)
    ├── RequestError                     bad_request       400    no   (the caller's request)
    │   ├── BodyTimeout                  request_timeout   408    yes  (a body that never ended)
    │   ├── UnknownModel                 unknown_model     404    no
    │   └── BodyTooLarge                 bad_request       413    no
    ├── EventTooLarge                    event_too_large   502    no
    └── ProviderError                    upstream_error    502    yes  (carries provider, status)
        ├── UpstreamAuth                 upstream_auth     502    no   (401/403 upstream)
        ├── UpstreamBadRequest           bad_request       400    no   (other 4xx upstream)
        ├── UpstreamRateLimited          upstream_rate_limited 429 yes (retry_after)
        ├── UpstreamOverloaded           upstream_overloaded   503 yes (503/529)
        ├── UpstreamTimeout              upstream_timeout  504    yes
        ├── UpstreamDisconnected         upstream_disconnected 502 yes
        └── UpstreamBadResponse          upstream_bad_response 502 no

Only ``error_from_status`` builds status errors (never classify by message text). Messages are
safe to show a user: they pass through ``redact`` so no key, bearer token or URL query leaks.
After the response headers are sent, the stream engine turns any of these into one terminal
``error`` frame carrying ``code``, ``message`` and ``retryable``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import orjson

ERROR_CODES: frozenset[str] = frozenset(
    (
        "bad_request",
        "unknown_model",
        "upstream_auth",
        "upstream_rate_limited",
        "upstream_overloaded",
        "upstream_error",
        "upstream_timeout",
        "upstream_disconnected",
        "upstream_bad_response",
        "event_too_large",
        "stream_too_long",
        "cancelled",
        "server_shutting_down",
        "internal_error",
    )
)

_SECRET_PATTERNS = re.compile(
    r"(?i)(bearer\s+)[^\s\"',]+"  # Authorization values
    r"|\b(sk|pk|rk|key)-[A-Za-z0-9_\-]{6,}"  # OpenAI-style keys
    r"|([?&](?:key|api_key|api-key|token|access_token|ticket)=)[^&\s\"']+"  # keys in URLs
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove known secrets and anything shaped like a credential from ``text``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[REDACTED]")

    def _sub(m: re.Match[str]) -> str:
        prefix = m.group(1) or m.group(3) or ""
        return prefix + "[REDACTED]"

    return _SECRET_PATTERNS.sub(_sub, text)


class AIChatFlowError(Exception):
    """Root of every error aichatflow raises on purpose."""

    code: str = "internal_error"
    http_status: int = 500
    retryable: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message, "retryable": self.retryable}


class ConfigError(AIChatFlowError):
    """The configuration is wrong: a developer mistake, reported at start-up."""


class RequestError(AIChatFlowError):
    """The caller's request is invalid."""

    code = "bad_request"
    http_status = 400


class UnknownModel(RequestError):
    code = "unknown_model"
    http_status = 404

    def __init__(self, model: str, known: Iterable[str] = ()) -> None:
        listed = ", ".join(sorted(known)[:20])
        hint = f"; known providers and aliases: {listed}" if listed else ""
        super().__init__(f"unknown model {model!r}{hint}")
        self.model = model


class BodyTimeout(RequestError):
    """The request body did not arrive within ``body_timeout`` (``HttpSettings``)."""

    code = "request_timeout"
    http_status = 408
    retryable = True

    def __init__(self, timeout: float) -> None:
        super().__init__(f"the request body was not received within {timeout:g} s")
        self.timeout = timeout


class BodyTooLarge(RequestError):
    http_status = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body is larger than {limit} bytes")
        self.limit = limit


class EventTooLarge(AIChatFlowError):
    """One upstream event exceeded ``max_event_bytes``: refusing to buffer more."""

    code = "event_too_large"
    http_status = 502

    def __init__(self, limit: int) -> None:
        super().__init__(f"an upstream event exceeded {limit} bytes")
        self.limit = limit


class ProviderError(AIChatFlowError):
    """The upstream failed. ``status_code`` is the upstream's HTTP status, when there was one."""

    code = "upstream_error"
    http_status = 502
    retryable = True

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
    retryable = False


class UpstreamBadRequest(ProviderError):
    code = "bad_request"
    http_status = 400
    retryable = False


class UpstreamRateLimited(ProviderError):
    code = "upstream_rate_limited"
    http_status = 429


class UpstreamOverloaded(ProviderError):
    code = "upstream_overloaded"
    http_status = 503


class UpstreamTimeout(ProviderError):
    code = "upstream_timeout"
    http_status = 504


class UpstreamDisconnected(ProviderError):
    code = "upstream_disconnected"


class UpstreamBadResponse(ProviderError):
    code = "upstream_bad_response"
    retryable = False


HTTP_STATUS_BY_CODE: dict[str, int] = {
    "bad_request": 400,
    "unknown_model": 404,
    "upstream_auth": 502,
    "upstream_rate_limited": 429,
    "upstream_overloaded": 503,
    "upstream_error": 502,
    "upstream_timeout": 504,
    "upstream_disconnected": 502,
    "upstream_bad_response": 502,
    "event_too_large": 502,
    "stream_too_long": 504,
    "cancelled": 499,
    "server_shutting_down": 503,
    "internal_error": 500,
}
"""The HTTP status for each error code, used when a failure happens before the headers."""

RETRYABLE_CODES: frozenset[str] = frozenset(
    (
        "upstream_rate_limited",
        "upstream_overloaded",
        "upstream_error",
        "upstream_timeout",
        "upstream_disconnected",
        "stream_too_long",
        "server_shutting_down",
    )
)


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


def upstream_message(body: bytes, fallback: str) -> str:
    """Pull a human message out of an upstream error body (OpenAI, vLLM, Anthropic, Gemini...)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace").strip()
        return text[:300] or fallback
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            msg = err.get("message") or err.get("detail")
            if isinstance(msg, str) and msg:
                return msg[:300]
        elif isinstance(err, str) and err:
            return err[:300]
    return fallback


_BY_STATUS: dict[int, type[ProviderError]] = {
    401: UpstreamAuth,
    403: UpstreamAuth,
    408: UpstreamTimeout,
    429: UpstreamRateLimited,
    503: UpstreamOverloaded,
    504: UpstreamTimeout,
    529: UpstreamOverloaded,
}


_BY_CODE: dict[str, type[ProviderError]] = {
    cls.code: cls
    for cls in (
        ProviderError,
        UpstreamAuth,
        UpstreamBadRequest,
        UpstreamRateLimited,
        UpstreamOverloaded,
        UpstreamTimeout,
        UpstreamDisconnected,
        UpstreamBadResponse,
    )
}


def error_for_code(code: str, message: str, *, provider: str = "") -> ProviderError:
    """A provider error for an ``upstream_*`` or ``bad_request`` code (in-band errors, mocks)."""
    return _BY_CODE.get(code, ProviderError)(message, provider=provider)


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
    message = redact(upstream_message(body, f"HTTP {status}"), secrets)
    return cls(
        f"{provider}: {message}",
        provider=provider,
        status_code=status,
        retry_after=parse_retry_after(headers),
    )


__all__ = [
    "ERROR_CODES",
    "HTTP_STATUS_BY_CODE",
    "RETRYABLE_CODES",
    "AIChatFlowError",
    "BodyTimeout",
    "BodyTooLarge",
    "ConfigError",
    "EventTooLarge",
    "ProviderError",
    "RequestError",
    "UnknownModel",
    "UpstreamAuth",
    "UpstreamBadRequest",
    "UpstreamBadResponse",
    "UpstreamDisconnected",
    "UpstreamOverloaded",
    "UpstreamRateLimited",
    "UpstreamTimeout",
    "error_for_code",
    "error_from_status",
    "parse_retry_after",
    "redact",
    "upstream_message",
]
