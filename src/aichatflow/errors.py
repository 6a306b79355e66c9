"""One root exception, a small tree, one status mapper.

::

    AIChatFlowError                      code              HTTP   retryable
    ├── ConfigError                      internal_error    500    no   (a developer mistake)
    ├── RequestError                     bad_request       400    no   (the caller's request)
    │   ├── BodyTimeout                  request_timeout   408    yes  (a body that never ended)
    │   ├── UnknownModel                 unknown_model     404    no
    │   ├── BodyTooLarge                 bad_request       413    no
    │   └── UnsupportedMediaType         unsupported_media_type 415 no (a body not sent as JSON)
    ├── EventTooLarge                    event_too_large   502    no
    └── ProviderError                    upstream_error    502    yes  (carries provider, status;
        │                                                           409, other 5xx)
        ├── UpstreamAuth                 upstream_auth     502    no   (401/402/403, no credit)
        ├── UpstreamBadRequest           bad_request       400    no   (other 4xx upstream)
        ├── UpstreamRateLimited          upstream_rate_limited 429 yes (retry_after)
        ├── UpstreamOverloaded           upstream_overloaded   503 yes (503/529)
        ├── UpstreamTimeout              upstream_timeout  504    yes
        ├── UpstreamDisconnected         upstream_disconnected 502 yes
        └── UpstreamBadResponse          upstream_bad_response 502 no

Only ``error_from_status`` builds status errors (never classify by message text); in-band errors
(an error inside a 200 response) are typed by each provider's parser from the upstream's
structured ``code``/``type``/``status`` fields, with ``error_for_code``.

What is never retried, and why: ``upstream_auth`` means the upstream refused the key or the
account, and another attempt would be refused the same way. It covers 401 and 403, their in-band
forms (OpenAI's ``invalid_api_key`` code, Anthropic's ``authentication_error``,
``permission_error`` and ``billing_error``, Gemini's ``UNAUTHENTICATED``, ``PERMISSION_DENIED``
and ``API_KEY_INVALID``), and an account without credit: HTTP 402 and OpenAI's
``insufficient_quota``, which OpenAI sends with a 429 although no wait cures it. A rate limit
(any other 429, Gemini's ``RESOURCE_EXHAUSTED``) stays retryable: it does pass. None of these is
the caller's fault, so a fallback chain still moves on to its next deployment. ``bad_request``
(other 4xx, an in-band ``invalid_request_error``) is the request's own and fails alike anywhere.

Messages are safe to show a user: an upstream's own message goes through ``redacted_excerpt``,
which redacts the *whole* text (configured keys, then credential shapes: ``sk-...`` including
Anthropic's ``sk-ant-...``, Google's ``AIza...``, bearer tokens, keys in URL queries), only then
cuts it to ``MESSAGE_LIMIT`` characters, and finally removes whatever still looks like the start
of a secret at the cut. Cutting first would leave the head of a key that straddles the cut
unrecognised.

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
        "unsupported_media_type",
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

MESSAGE_LIMIT = 300
"""Characters of an upstream's own message kept in an error (after redaction, see
``redacted_excerpt``)."""

REDACTED = "[REDACTED]"

_SECRET_PATTERNS = re.compile(
    r"(?i)(?P<bearer>bearer\s+)[^\s\"',]+"  # Authorization values
    r"|\b(?:sk|pk|rk|key)-[A-Za-z0-9_\-]{6,}"  # OpenAI-style keys, Anthropic's sk-ant-...
    r"|\bAIza[0-9A-Za-z_\-]{16,}"  # Google API keys (AIza and 35 more characters)
    r"|(?P<query>[?&](?:key|api_key|api-key|token|access_token|ticket)=)[^&\s\"']+"  # in URLs
)
_SECRET_HEADS = re.compile(
    r"(?i)(?:(?P<bearer>bearer\s+)[^\s\"',]*"
    r"|\b(?:sk|pk|rk|key)-[A-Za-z0-9_\-]*"
    r"|\bAIza[0-9A-Za-z_\-]*"
    r"|(?P<query>[?&](?:key|api_key|api-key|token|access_token|ticket)=)[^&\s\"']*)\Z"
)
"""The start of a credential-shaped token, ending the text: what a cut leaves of a token."""
_MIN_SECRET_HEAD = 4
"""A known secret's first characters ending a text are removed from this many on."""


def _keep_prefix(m: re.Match[str]) -> str:
    return (m.group("bearer") or m.group("query") or "") + REDACTED


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove known secrets and anything shaped like a credential from ``text``."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return _SECRET_PATTERNS.sub(_keep_prefix, text)


def redacted_excerpt(text: str, secrets: Iterable[str] = (), limit: int = MESSAGE_LIMIT) -> str:
    """``text`` redacted, then cut to ``limit`` characters (plus at most one ``[REDACTED]``
    marker): the one way an upstream's message is shortened.

    The order is the point: cutting first would split a secret at the cut and leave its head
    (25 characters of a 26-character key) where neither the known-secret match nor the
    credential patterns recognise it any more. After the cut, whatever still looks like the
    *beginning* of a secret at the end (a known secret's first characters, ``sk-...``,
    ``AIza...``, ``Bearer ...`` cut short, by the upstream itself or by us) is removed too, and
    a cut that would split a ``[REDACTED]`` marker is moved before it.
    """
    secrets = tuple(s for s in secrets if s)
    text = redact(text, secrets)
    if len(text) > limit:
        width = len(REDACTED)
        marker = text.find(REDACTED, max(0, limit - width + 1), limit + width - 1)
        text = text[: marker if marker != -1 else limit]
    return _without_secret_head(text, secrets)


def _without_secret_head(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        for size in range(len(secret) - 1, _MIN_SECRET_HEAD - 1, -1):
            if text.endswith(secret[:size]):
                text = text[: len(text) - size] + REDACTED
                break
    return _SECRET_HEADS.sub(_keep_prefix, text, count=1)


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


class UnsupportedMediaType(RequestError):
    """A chat ``POST`` whose ``Content-Type`` is not ``application/json``.

    Refused because a page on any other origin can make a browser send a "simple" cross-site
    ``POST`` (``text/plain``, no CORS preflight) to a server on localhost; only JSON, which a
    browser will not send cross-site without a preflight, may reach a provider and its key.
    """

    code = "unsupported_media_type"
    http_status = 415


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
    "unsupported_media_type": 415,
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
    401: UpstreamAuth,
    402: UpstreamAuth,  # Payment Required (DeepSeek's "Insufficient Balance"): the account
    403: UpstreamAuth,
    408: UpstreamTimeout,
    409: ProviderError,  # Conflict: OpenAI's docs say retry (a lock held upstream), as its SDK does
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
    "ERROR_CODES",
    "HTTP_STATUS_BY_CODE",
    "MESSAGE_LIMIT",
    "REDACTED",
    "RETRYABLE_CODES",
    "AIChatFlowError",
    "BodyTimeout",
    "BodyTooLarge",
    "ConfigError",
    "EventTooLarge",
    "ProviderError",
    "RequestError",
    "UnknownModel",
    "UnsupportedMediaType",
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
    "redacted_excerpt",
    "upstream_message",
]
