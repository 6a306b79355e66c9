"""CORS by allowlist: which pages of other origins may call the API from a browser.

Off by default (``build_cors`` returns ``None`` and no response carries a CORS header): the chat
page is served by the server itself, so it is same-origin and needs none. With
``[cors] allow_origins = ["https://app.example"]`` a page of that origin may call the API.

**Exact origins only.** An origin is ``scheme://host[:port]`` and nothing else; it is compared
as browsers serialise it (scheme and host case-insensitive, the scheme's default port the same
as none), never by prefix, suffix or pattern: ``https://app.example.evil.com``,
``https://evil.com/https://app.example`` or ``https://app.example@evil.com`` are not
``https://app.example``. ``Origin: null`` (sandboxed frames, ``file:`` pages, redirects: anyone
can send it) and values that are not an origin are never granted by a list. The check is a set
lookup of the header's raw value (browsers always send the serialised form); only a value that
misses is parsed, to find out whether it is an allowed origin written differently.

**The answers.**

- A preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) from an
  allowed origin, for ``GET``, ``POST`` or ``OPTIONS``: ``204`` with the origin echoed, the
  methods, those of the requested headers the API reads (``ALLOW_HEADERS``; a browser refuses
  the request itself if one it asked for is missing) and ``Access-Control-Max-Age``.
- Any other preflight: ``400`` without a single ``Access-Control-*`` header. A browser fails a
  preflight whose status is not 2xx *or* which does not grant the origin; the status only shows
  in its console, where 400 (what Starlette's ``CORSMiddleware`` answers) reads as "this
  request is not acceptable", which is what it is. 403 would suggest a credential could help.
- An actual request from an allowed origin: the origin echoed, ``Vary: Origin`` and
  ``Access-Control-Expose-Headers`` (``EXPOSE_HEADERS``: the request id, ``Retry-After`` and the
  ``x-ratelimit-*`` headers, which a page's script could not read otherwise).
- With an explicit list, every other response still carries ``Vary: Origin``: the response
  depends on the ``Origin`` header, so a cache must not hand a response without the grant to
  an allowed page (or the reverse); the Fetch standard asks for this.

**``"*"``** grants every origin, ``null`` included (that is what ``*`` says):
``Access-Control-Allow-Origin: *`` on every response and every preflight. Such a response does
not depend on ``Origin``, so no ``Vary`` is needed.

**No credentials, ever.** ``Access-Control-Allow-Credentials`` is never sent, with ``*`` or
without: a page sends its key in ``Authorization`` or ``x-api-key``, which a script sets
itself and which needs only ``Access-Control-Allow-Headers``. Credentials mode is for what the
browser adds by itself (cookies, HTTP authentication, client certificates); the API uses none
of them, and granting it would let any allowed page ride on them.
"""

from __future__ import annotations

import re

from starlette.types import Scope

from ..config import Settings
from ..dialects.error_shape import Headers
from ..errors import ConfigError

ALLOW_METHODS = ("GET", "POST", "OPTIONS")
ALLOW_HEADERS = ("authorization", "content-type", "x-api-key", "x-request-id", "last-event-id")
"""Request headers the API reads; a preflight echoes those of them it was asked for."""
EXPOSE_HEADERS = (
    "x-request-id",
    "retry-after",
    "x-ratelimit-limit-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-requests",
    "x-ratelimit-reset-tokens",
)
"""Response headers a page's script may read besides the CORS-safelisted ones."""

DEFAULT_PORTS = {"http": 80, "https": 443}
_ORIGIN = re.compile(
    r"(https?)://(\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9._-]{0,251}[a-z0-9])?)(?::([0-9]{1,5}))?",
    re.IGNORECASE | re.ASCII,
)
_VARY = (b"vary", b"Origin")


def canonical_origin(value: str) -> str | None:
    """``value`` as a browser serialises the origin (lower case, no default port), or ``None``
    when it is not exactly ``scheme://host[:port]`` of ``http``/``https``."""
    match = _ORIGIN.fullmatch(value)
    if match is None:
        return None
    scheme, host, port = match.group(1).lower(), match.group(2).lower(), match.group(3)
    if port is not None:
        number = int(port)
        if not 0 < number < 65536:
            return None
        if number != DEFAULT_PORTS[scheme]:
            return f"{scheme}://{host}:{number}"
    return f"{scheme}://{host}"


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value  # type: ignore[no-any-return]
    return None


def _requested_headers(value: bytes | None) -> bytes | None:
    """Those of ``Access-Control-Request-Headers`` the API reads, comma-separated."""
    if not value:
        return None
    asked = {name.strip().lower() for name in value.decode("latin-1").split(",")}
    granted = [name for name in ALLOW_HEADERS if name in asked]
    return ", ".join(granted).encode("ascii") if granted else None


class OriginAllowlist:
    """The ``Cors`` part of the request flow (``server/production.py``): see the module
    docstring for what it answers and why."""

    def __init__(self, origins: tuple[str, ...], *, max_age: int) -> None:
        self.allow_any = "*" in origins
        allowed: set[str] = set()
        for origin in origins:
            if origin == "*":
                continue
            canonical = canonical_origin(origin)
            if canonical is None:
                raise ConfigError(
                    f"cors.allow_origins: {origin!r} is not an origin: scheme://host[:port] "
                    "with http or https, no path, no user, a host in ASCII (punycode for "
                    "international names)"
                )
            allowed.add(canonical)
        self.origins = frozenset(allowed)
        self._raw = frozenset(origin.encode("ascii") for origin in allowed)
        expose = ", ".join(EXPOSE_HEADERS).encode("ascii")
        self._any: Headers = [
            (b"access-control-allow-origin", b"*"),
            (b"access-control-expose-headers", expose),
        ]
        self._expose = (b"access-control-expose-headers", expose)
        self._grant_tail: Headers = [
            (b"access-control-allow-methods", ", ".join(ALLOW_METHODS).encode("ascii")),
            (b"access-control-max-age", str(max_age).encode("ascii")),
        ]

    def allows(self, origin: bytes) -> bool:
        """Whether ``origin`` (an ``Origin`` header's raw value) is on the list."""
        if origin in self._raw:
            return True
        try:
            canonical = canonical_origin(origin.decode("ascii"))
        except UnicodeDecodeError:
            return False
        return canonical is not None and canonical in self.origins

    def preflight(self, scope: Scope) -> tuple[int, Headers] | None:
        if scope["method"] != "OPTIONS":
            return None
        origin = method = requested = None
        for key, value in scope["headers"]:
            if key == b"origin":
                origin = value
            elif key == b"access-control-request-method":
                method = value
            elif key == b"access-control-request-headers":
                requested = value
        if origin is None or method is None:
            return None
        if method.decode("latin-1") not in ALLOW_METHODS:
            return 400, []
        if self.allow_any:
            grant = [(b"access-control-allow-origin", b"*")]
        elif self.allows(origin):
            grant = [(b"access-control-allow-origin", origin), _VARY]
        else:
            return 400, []
        headers = _requested_headers(requested)
        if headers is not None:
            grant.append((b"access-control-allow-headers", headers))
        return 204, grant + self._grant_tail

    def headers(self, scope: Scope) -> Headers:
        if self.allow_any:
            return list(self._any)
        origin = _header(scope, b"origin")
        if origin is None or not self.allows(origin):
            return [_VARY]
        return [(b"access-control-allow-origin", origin), _VARY, self._expose]


def build_cors(settings: Settings) -> OriginAllowlist | None:
    """The CORS part for ``settings``, or ``None`` (no CORS header at all) when
    ``[cors] allow_origins`` is empty. A listed value that is not an origin is a
    ``ConfigError`` at start-up."""
    cors = settings.cors
    if not cors.allow_origins:
        return None
    return OriginAllowlist(cors.allow_origins, max_age=cors.max_age)


__all__ = ["ALLOW_HEADERS", "ALLOW_METHODS", "EXPOSE_HEADERS", "OriginAllowlist", "build_cors"]
