"""The options every HTTP provider shares, parsed and checked in one place.

``[providers.<name>]`` tables of every HTTP kind accept ``base_url``, ``api_key_env``,
``api_key``, ``models``, ``connect_timeout``, ``read_timeout``, ``max_retries``,
``first_token_timeout``, ``max_event_bytes``, ``headers``, ``pool_size`` and ``keepalive``; a
provider adds its own keys via ``extra``. Unknown keys are a ``ConfigError`` at start-up (a typo
must not be silently ignored), and so are values of the wrong kind.

``pool_size`` and ``keepalive`` make the provider's connection pool explicit (each provider has
its own, ``providers/_http.py``): at most ``pool_size`` connections to the upstream (default
1000), an idle one kept ``keepalive`` seconds for the next request (default 15; 0: none kept).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..sse.decode import DEFAULT_MAX_EVENT_BYTES
from ._http import HttpOptions
from ._retry import RetryPolicy

HTTP_OPTIONS = frozenset(
    {
        "kind",
        "base_url",
        "api_key_env",
        "api_key",
        "models",
        "connect_timeout",
        "read_timeout",
        "max_retries",
        "first_token_timeout",
        "max_event_bytes",
        "headers",
        "pool_size",
        "keepalive",
    }
)
DEFAULT_HTTP = HttpOptions()


def api_key(options: Mapping[str, Any], key_envs: Sequence[str]) -> str:
    """``api_key``, else the first set variable of ``api_key_env`` (or the kind's defaults)."""
    if options.get("api_key"):
        return str(options["api_key"])
    env = options.get("api_key_env")
    for name in (env,) if env else key_envs:
        if name and os.environ.get(name):
            return os.environ[name]
    return ""


def pool_options(provider: str, options: Mapping[str, Any]) -> tuple[int, float]:
    """``pool_size`` and ``keepalive`` of a provider table, checked: a pool of no connection
    or a negative keep-alive would only fail later, at the first request, or never visibly."""
    size = options.get("pool_size", DEFAULT_HTTP.pool_size)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigError(
            f"provider {provider!r}: pool_size must be a whole number of connections, "
            f"1 or more (got {size!r})"
        )
    keep = options.get("keepalive", DEFAULT_HTTP.keepalive)
    if isinstance(keep, bool) or not isinstance(keep, int | float) or not math.isfinite(keep):
        raise ConfigError(f"provider {provider!r}: keepalive must be seconds (got {keep!r})")
    if keep < 0:
        raise ConfigError(
            f"provider {provider!r}: keepalive must be 0 (no idle connection kept) or more "
            f"seconds (got {keep!r})"
        )
    return size, float(keep)


@dataclass(frozen=True, slots=True)
class HttpProviderConfig:
    base_url: str
    """Without a trailing slash."""
    api_key: str
    """Empty when there is none: then no auth header is sent at all."""
    models: tuple[str, ...]
    """``models`` of the config, else the kind's defaults."""
    models_configured: bool
    """The config listed ``models``: advertise exactly those, never the upstream's own list."""
    headers: dict[str, str]
    """Extra request headers from the config."""
    max_event_bytes: int
    retry: RetryPolicy
    http: HttpOptions

    @classmethod
    def parse(
        cls,
        provider: str,
        options: Mapping[str, Any],
        *,
        base_url: str | None,
        key_envs: Sequence[str] = (),
        models: Sequence[str] = (),
        extra: frozenset[str] = frozenset(),
    ) -> HttpProviderConfig:
        unknown = set(options) - HTTP_OPTIONS - extra
        if unknown:
            raise ConfigError(f"provider {provider!r}: unknown option(s) {sorted(unknown)}")
        url = options.get("base_url") or base_url
        if not url:
            raise ConfigError(f"provider {provider!r}: base_url is required")
        first_token = options.get("first_token_timeout")
        listed = options.get("models")
        if listed is not None and (
            not isinstance(listed, list | tuple) or not all(isinstance(m, str) for m in listed)
        ):
            raise ConfigError(f"provider {provider!r}: models must be a list of model names")
        pool_size, keepalive = pool_options(provider, options)
        try:
            return cls(
                base_url=str(url).rstrip("/"),
                api_key=api_key(options, key_envs),
                models=tuple(options.get("models") or models),
                models_configured=bool(options.get("models")),
                headers={str(k): str(v) for k, v in (options.get("headers") or {}).items()},
                max_event_bytes=int(options.get("max_event_bytes", DEFAULT_MAX_EVENT_BYTES)),
                retry=RetryPolicy(
                    max_retries=int(options.get("max_retries", 2)),
                    attempt_first_token=None if first_token is None else float(first_token),
                ),
                http=HttpOptions(
                    connect_timeout=float(options.get("connect_timeout", 5.0)),
                    read_timeout=float(options.get("read_timeout", 60.0)),
                    pool_size=pool_size,
                    keepalive=keepalive,
                ),
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"provider {provider!r}: {exc}") from None


__all__ = ["HTTP_OPTIONS", "HttpProviderConfig", "api_key", "pool_options"]
