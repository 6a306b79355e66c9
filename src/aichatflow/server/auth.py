"""Client keys: who may call this server, and which models each key may use.

With at least one key in ``[[auth.keys]]`` (or ``AICHATFLOW_API_KEYS``), every route but the
page, its static files, ``/healthz``, ``OPTIONS`` (CORS preflights) and, when ``[metrics]
public = true``, ``/metrics`` wants a credential, one of:

- ``Authorization: Bearer <key>``: what the official ``openai`` SDK sends for ``api_key=``;
- ``x-api-key: <key>``: what the official ``anthropic`` SDK sends;
- ``?ticket=<ticket>`` from ``POST /api/tickets`` (``tickets.py``), for clients that cannot set
  headers.

Keys are stored and compared as their SHA-256. A presented key is hashed once and its digest
compared with ``hmac.compare_digest`` against *every* configured digest, with no early exit and
no dict lookup keyed by the secret, so the time a refusal takes says nothing about how close a
guess was. A revoked (``disabled``) key gets the very same 401 as an unknown one: no oracle for
which keys once existed. A 401 never repeats the key beyond its last four characters (enough
for its owner to tell which of theirs it was), and anything malformed (two ``Authorization``
headers, a scheme other than ``Bearer``, a key that is not printable ASCII or is longer than
``MAX_KEY_CHARS``) is a 401 too, never a 500.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from ..config import ApiKey, Settings
from ..errors import Forbidden, Unauthorized
from .gate import EXCHANGE, Exchange
from .production import Caller
from .tickets import Tickets, build_tickets

MAX_KEY_CHARS = 256
"""Longer presented keys are refused unhashed (``keys new`` makes 47-character keys)."""

SUFFIX_CHARS = 4
"""Characters of a refused key a 401 may show (its end), and only for keys of at least
``MIN_KEY_FOR_SUFFIX`` characters: four characters of a short guess would be most of it."""
MIN_KEY_FOR_SUFFIX = 16

NO_CREDENTIAL = (
    "this server wants an API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'"
)
MALFORMED = "malformed credentials: send one 'Authorization: Bearer <key>' or 'x-api-key: <key>'"
BAD_TICKET = "invalid ticket: unknown, already used or expired (mint another: POST /api/tickets)"

_KEYLESS_PATHS = frozenset({"/", "/healthz"})


class KeyRing:
    """The ``Keys`` part (``production.py``): the configured keys and their tickets."""

    enabled = True

    def __init__(
        self, keys: tuple[ApiKey, ...], *, tickets: Tickets, metrics_public: bool = False
    ) -> None:
        if not keys:
            raise ValueError("a key ring needs at least one key (no keys: build_keys is None)")
        self._keys = keys
        self._by_id = {key.id: key for key in keys}
        self.tickets = tickets
        self._metrics_public = metrics_public

    def requires_key(self, method: str, path: str) -> bool:
        """Everything but the page, its files, ``/healthz`` and (when public) ``/metrics``.

        ``OPTIONS`` never wants a key: a browser sends no credentials on a CORS preflight, and
        no route answers ``OPTIONS`` with anything but the preflight answer or a 405.
        """
        if method == "OPTIONS":
            return False
        if method in ("GET", "HEAD"):
            if path in _KEYLESS_PATHS or path.startswith("/static/"):
                return False
            if path == "/metrics" and self._metrics_public:
                return False
        return True

    async def authenticate(self, scope: Scope, client_ip: str) -> Caller:
        """The caller of a request that needs a key; raises ``Unauthorized`` (401), or
        ``OverCapacity`` (503) when a ticket's Redis cannot be reached. A key in a header
        awaits nothing: only a ticket may need the Redis."""
        presented = _header_key(scope["headers"])
        ticket = _query_ticket(scope.get("query_string", b""))
        if presented is not None and ticket is not None:
            raise Unauthorized("send either a key or a ticket, not both")
        if ticket is not None:
            return Caller(await self._redeem(ticket), client_ip)
        if presented is None:
            raise Unauthorized(NO_CREDENTIAL)
        return Caller(self._match(presented), client_ip)

    def authorize_model(self, caller: Caller, model: str) -> None:
        """``Forbidden`` (403) unless one of the key's ``models`` globs (case-sensitive, as
        ``fnmatch``) matches ``model``, the name the request used (an alias stays an alias)."""
        if not caller.may_use(model):
            raise Forbidden(f"the key {caller.key_id!r} may not use the model {model[:200]!r}")

    async def mint_ticket(self, caller: Caller) -> dict[str, object]:
        """The body of ``POST /api/tickets``: a ticket bound to the caller's key."""
        if caller.key is None:  # only reachable with a key: the route wants one
            raise Unauthorized(NO_CREDENTIAL)
        ttl = self.tickets.ttl
        return {
            "ticket": await self.tickets.mint(caller.key.id),
            "expires_in": int(ttl) if ttl.is_integer() else ttl,
        }

    def _match(self, presented: str) -> ApiKey:
        digest = hashlib.sha256(presented.encode("ascii")).hexdigest()
        found: ApiKey | None = None
        revoked = False
        for key in self._keys:  # every key, every time: no early exit
            if hmac.compare_digest(digest, key.sha256):
                revoked = revoked or key.disabled
                found = found or key
        if found is None or revoked:
            raise Unauthorized(_refusal(presented))
        return found

    async def _redeem(self, ticket: str) -> ApiKey:
        """The key a ticket stands for, as configured *here*: with tickets in Redis, another
        instance may have minted it, and a key this instance does not know or has disabled
        (a configuration rolled out to some instances first) is refused."""
        key_id = await self.tickets.redeem(ticket)
        key = None if key_id is None else self._by_id.get(key_id)
        if key is None or key.disabled:
            raise Unauthorized(BAD_TICKET)
        return key

    async def aclose(self) -> None:
        """Close the tickets' Redis connections, if they live in Redis."""
        await self.tickets.aclose()


def build_keys(settings: Settings) -> KeyRing | None:
    """The key ring of ``[auth]``, or ``None`` when no key is configured (nothing wants one)."""
    auth = settings.auth
    if not auth.enabled:
        return None
    return KeyRing(
        auth.keys, tickets=build_tickets(settings), metrics_public=settings.metrics.public
    )


async def mint_ticket(request: Request) -> Response:
    """``POST /api/tickets`` → ``{"ticket": ..., "expires_in": seconds}``; the gate has already
    authenticated the request (its ``Exchange`` holds the caller)."""
    keys: KeyRing | None = getattr(request.app.state, "keys", None)
    exchange: Exchange | None = request.scope.get(EXCHANGE)
    if keys is None:
        raise Unauthorized("this server has no keys, so it mints no tickets")
    if exchange is None:
        raise Unauthorized(NO_CREDENTIAL)
    if _query_ticket(request.scope.get("query_string", b"")) is not None:
        # A ticket minting the next one would live forever: only a key mints.
        raise Unauthorized("a ticket cannot mint tickets: send the key")
    body = await keys.mint_ticket(exchange.caller)
    return JSONResponse(body, headers={"cache-control": "no-store"})


def _refusal(presented: str) -> str:
    if len(presented) < MIN_KEY_FOR_SUFFIX:
        return "invalid API key"
    return f"invalid API key (ending in '{presented[-SUFFIX_CHARS:]}')"


def _header_key(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The key in ``Authorization: Bearer`` or ``x-api-key`` (both: they must agree), or
    ``None`` when neither is sent."""
    found: list[bytes] = []
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.strip().partition(b" ")
            if scheme.lower() != b"bearer":
                raise Unauthorized(MALFORMED)
            found.append(token.strip())
        elif name == b"x-api-key":
            found.append(value.strip())
    if not found:
        return None
    if len(found) > 2 or len(set(found)) != 1:
        raise Unauthorized(MALFORMED)
    if len(found) == 2 and _count(headers, b"authorization") != 1:
        raise Unauthorized(MALFORMED)  # two of one header, none of the other
    return _printable(found[0])


def _count(headers: list[tuple[bytes, bytes]], name: bytes) -> int:
    return sum(1 for header, _ in headers if header == name)


def _printable(raw: bytes) -> str:
    if not raw:
        raise Unauthorized(MALFORMED)
    if len(raw) > MAX_KEY_CHARS:
        raise Unauthorized(f"the API key is longer than {MAX_KEY_CHARS} characters")
    if not all(0x21 <= byte <= 0x7E for byte in raw):
        raise Unauthorized(MALFORMED)
    return raw.decode("ascii")


def _query_ticket(query: bytes) -> str | None:
    """The ``ticket`` query parameter (once at most), or ``None``."""
    if b"ticket" not in query:
        return None
    values = [
        value
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True)
        if name == "ticket"
    ]
    if not values:
        return None
    if len(values) > 1:
        raise Unauthorized(BAD_TICKET)
    return values[0]


__all__ = ["MAX_KEY_CHARS", "KeyRing", "build_keys", "mint_ticket"]
