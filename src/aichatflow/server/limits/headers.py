"""OpenAI's ``x-ratelimit-*`` headers and the refusals that carry them.

Clients written for OpenAI read these headers (the requests trio, and the tokens trio when a
token limit applies) to pace themselves, so a key's limits are reported in the same words:
``limit`` is the configured count, ``remaining`` what is left after this request, and ``reset``
the time until the window is back to its initial state (the last unit taken leaves it), in
OpenAI's duration form (``"12ms"``, ``"1s"``, ``"6m0s"``, Go's ``time.Duration`` text).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from ...dialects.error_shape import Headers
from ...errors import OverCapacity, RateLimited
from .plan import WINDOW

SLOT_RETRY_AFTER = 1.0
"""Seconds a refusal for a concurrent-stream limit asks the client to wait: a slot frees when
some stream ends, which no one can predict; one second is a polite retry pace."""


def openai_duration(seconds: float) -> str:
    """``seconds`` as OpenAI writes it: ``"0s"``, ``"250ms"``, ``"1.5s"``, ``"6m0s"``,
    ``"1h0m0s"`` (milliseconds below a second, at most three decimals above)."""
    return _duration_text(max(0, round(seconds * 1000)))


@functools.lru_cache(maxsize=4096)
def _duration_text(millis: int) -> str:
    if millis == 0:
        return "0s"
    if millis < 1000:
        return f"{millis}ms"
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs = f"{rest / 1000:.3f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{secs}"
    if minutes:
        return f"{minutes}m{secs}"
    return secs


@dataclass(frozen=True, slots=True)
class WindowState:
    """One sliding window as a client sees it after the admission (or the refusal)."""

    limit: int
    remaining: int
    reset: float
    """Seconds until the window holds nothing any more."""


def window_state(limit: int, used: int, reset: float, taken: int) -> WindowState:
    """A window after an admission took ``taken`` units (0: refused, nothing taken), from
    what it held before (``used``) and when it would have been empty (``reset``)."""
    return WindowState(limit, limit - used - taken, WINDOW if taken else max(reset, 0.0))


def ratelimit_headers(requests: WindowState | None, tokens: WindowState | None) -> Headers:
    """The ``x-ratelimit-*`` headers of the windows that apply (none: no headers)."""
    headers: Headers = []
    for name, state in ((b"requests", requests), (b"tokens", tokens)):
        if state is None:
            continue
        headers += [
            (b"x-ratelimit-limit-" + name, b"%d" % state.limit),
            (b"x-ratelimit-remaining-" + name, b"%d" % max(0, state.remaining)),
            (b"x-ratelimit-reset-" + name, openai_duration(state.reset).encode("ascii")),
        ]
    return headers


@dataclass(frozen=True, slots=True)
class Refusal:
    """Which limit refused an admission, and for how long."""

    scope: str
    """``key``, ``ip`` or ``server`` (the metric's label)."""
    limit: str
    """``rpm``, ``tpm``, ``max_streams`` or ``ip_rpm``: what the message names."""
    retry_after: float


_MESSAGES = {
    "rpm": "rate limit reached: requests per minute of this key",
    "tpm": "rate limit reached: tokens per minute of this key",
    "max_streams": "rate limit reached: streams at once of this key",
    "ip_rpm": "rate limit reached: requests per minute from this address",
    "server": "the server is at capacity: too many streams at once",
}


def refusal_error(
    refusal: Refusal, requests: WindowState | None, tokens: WindowState | None
) -> RateLimited | OverCapacity:
    """The exception an admission raises: 503 for the server's capacity, 429 otherwise."""
    headers = ratelimit_headers(requests, tokens)
    retry_after = max(refusal.retry_after, 0.001)
    if refusal.scope == "server":
        return OverCapacity(_MESSAGES["server"], retry_after=retry_after, headers=headers)
    return RateLimited(_MESSAGES[refusal.limit], retry_after=retry_after, headers=headers)


__all__ = [
    "SLOT_RETRY_AFTER",
    "Refusal",
    "WindowState",
    "openai_duration",
    "ratelimit_headers",
    "refusal_error",
    "window_state",
]
