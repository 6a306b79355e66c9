"""The key ring (``server/auth.py``) and the ticket book (``server/tickets.py``) on their own:
which routes want a key, how a credential is read, compared and refused, which models a key
may use, and tickets (single use, expiry, a bound under a flood of mints)."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest

from aichatflow.config import ApiKey, Settings, key_digest
from aichatflow.errors import Forbidden, RateLimited, Unauthorized
from aichatflow.server.auth import MAX_KEY_CHARS, KeyRing, build_keys
from aichatflow.server.production import Caller
from aichatflow.server.tickets import TicketBook

GOOD = "acf-good-key-0123456789abcdefghijklmnop"
OTHER = "acf-other-key-0123456789abcdefghijklmnop"
REVOKED = "acf-revoked-key-0123456789abcdefghijWXYZ"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ring(*, ttl: float = 30.0, clock: Clock | None = None, per_key: int = 100) -> KeyRing:
    keys = (
        ApiKey(id="good", sha256=key_digest(GOOD)),
        ApiKey(id="other", sha256=key_digest(OTHER), models=("openai/*", "fast")),
        ApiKey(id="revoked", sha256=key_digest(REVOKED), disabled=True),
    )
    book = TicketBook(ttl, per_key=per_key, clock=clock or Clock())
    return KeyRing(keys, tickets=book)


def scope(*headers: tuple[bytes, bytes], query: bytes = b"") -> dict[str, Any]:
    return {"type": "http", "headers": list(headers), "query_string": query}


def bearer(key: str | bytes) -> tuple[bytes, bytes]:
    raw = key.encode() if isinstance(key, str) else key
    return (b"authorization", b"Bearer " + raw)


async def refusal(keys: KeyRing, *headers: tuple[bytes, bytes], query: bytes = b"") -> str:
    with pytest.raises(Unauthorized) as caught:
        await keys.authenticate(scope(*headers, query=query), "127.0.0.1")
    assert caught.value.http_status == 401
    return caught.value.message


# --- which routes want a key -------------------------------------------------------------------


def test_no_keys_configured_means_no_key_ring() -> None:
    assert build_keys(Settings()) is None


@pytest.mark.parametrize(
    ("method", "path", "wanted"),
    [
        ("GET", "/", False),
        ("HEAD", "/", False),
        ("GET", "/static/chat.js", False),
        ("GET", "/healthz", False),
        ("OPTIONS", "/api/chat", False),
        ("GET", "/metrics", True),
        ("POST", "/api/chat", True),
        ("POST", "/v1/chat/completions", True),
        ("GET", "/v1/models", True),
        ("GET", "/v1/models/mock/chat", True),
        ("GET", "/api/config", True),
        ("POST", "/api/tickets", True),
        ("POST", "/", True),
        ("POST", "/healthz", True),
        ("GET", "/staticx", True),
        ("GET", "/healthz/", True),
        ("GET", "/nowhere", True),
    ],
)
def test_every_route_but_the_page_its_files_and_healthz_wants_a_key(
    method: str, path: str, wanted: bool
) -> None:
    assert ring().requires_key(method, path) is wanted


def test_metrics_is_keyless_only_when_configured_public() -> None:
    settings = Settings.model_validate(
        {"auth": {"keys": [{"id": "a", "sha256": key_digest(GOOD)}]}, "metrics": {"public": True}}
    )
    keys = build_keys(settings)
    assert keys is not None
    assert keys.requires_key("GET", "/metrics") is False
    assert keys.requires_key("POST", "/metrics") is True


# --- reading and comparing a key ----------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        [bearer(GOOD)],
        [(b"authorization", b"bearer " + GOOD.encode())],
        [(b"authorization", b"Bearer   " + GOOD.encode() + b"  ")],
        [(b"x-api-key", GOOD.encode())],
        [bearer(GOOD), (b"x-api-key", GOOD.encode())],
    ],
)
async def test_a_configured_key_is_accepted_in_either_header(
    headers: list[tuple[bytes, bytes]],
) -> None:
    caller = await ring().authenticate(scope(*headers), "10.0.0.1")
    assert caller == Caller(caller.key, "10.0.0.1")
    assert caller.key_id == "good"


async def test_every_configured_digest_is_compared_with_compare_digest_every_time() -> None:
    keys = ring()
    real = hmac.compare_digest
    with mock.patch("hmac.compare_digest", side_effect=real) as compare:
        assert (await keys.authenticate(scope(bearer(GOOD)), "::1")).key_id == "good"
        assert compare.call_count == 3  # the match is the first key: no early exit
        compare.reset_mock()
        await refusal(keys, bearer("acf-no-such-key-0123456789"))
        assert compare.call_count == 3
    assert all(c.args[0] == key_digest("acf-no-such-key-0123456789") for c in compare.mock_calls)


async def test_a_revoked_key_is_refused_exactly_like_an_unknown_one() -> None:
    keys = ring()
    unknown = "acf-never-configured-key-0123WXYZ"  # same last four characters as REVOKED
    assert await refusal(keys, bearer(REVOKED)) == await refusal(keys, bearer(unknown))
    assert await refusal(keys, bearer(REVOKED)) == "invalid API key (ending in 'WXYZ')"


async def test_a_refusal_shows_at_most_the_last_four_characters_of_the_key() -> None:
    keys = ring()
    message = await refusal(keys, bearer("acf-SECRETSECRETSECRET-tail"))
    assert "SECRET" not in message and message.endswith("'tail')")
    assert await refusal(keys, bearer("short-guess")) == "invalid API key"


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [bearer(GOOD), bearer(GOOD)],
        [bearer(GOOD), bearer(OTHER)],
        [(b"x-api-key", GOOD.encode()), (b"x-api-key", GOOD.encode())],
        [bearer(GOOD), (b"x-api-key", OTHER.encode())],
        [(b"authorization", b"Bearer")],
        [(b"authorization", b"Bearer ")],
        [(b"authorization", b"")],
        [(b"authorization", b"Basic " + b"Z29vZDpnb29k")],
        [(b"authorization", GOOD.encode())],
        [(b"authorization", b"Bearer " + GOOD.encode() + b" extra")],
        [bearer("acf-caf\u00e9-key-0123456789".encode())],
        [bearer(b"acf-\xff\xfe-key-0123456789")],
        [bearer(b"acf-\x00-key-0123456789")],
        [bearer("k" * 10_000)],
        [(b"x-api-key", b"")],
    ],
)
async def test_missing_or_malformed_credentials_are_a_401_that_echoes_nothing(
    headers: list[tuple[bytes, bytes]],
) -> None:
    message = await refusal(ring(), *headers)
    assert "kkkk" not in message and "good-key" not in message and "other-key" not in message


async def test_a_ten_kilobyte_key_is_refused_for_its_length_unhashed() -> None:
    with mock.patch("hmac.compare_digest") as compare:
        message = await refusal(ring(), bearer("k" * 10_000))
    assert compare.call_count == 0
    assert str(MAX_KEY_CHARS) in message


# --- which models a key may use -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "allowed"),
    [
        ("openai/gpt-4o", True),
        ("openai/", True),
        ("fast", True),
        ("OpenAI/gpt-4o", False),  # case-sensitive
        ("fast2", False),
        ("anthropic/claude", False),
        ("mock/chat", False),
    ],
)
async def test_a_key_may_use_only_the_models_its_globs_match(model: str, allowed: bool) -> None:
    keys = ring()
    other = await keys.authenticate(scope(bearer(OTHER)), "::1")
    if allowed:
        keys.authorize_model(other, model)
    else:
        with pytest.raises(Forbidden) as caught:
            keys.authorize_model(other, model)
        assert caught.value.http_status == 403 and "'other'" in caught.value.message
    good = await keys.authenticate(scope(bearer(GOOD)), "::1")
    keys.authorize_model(good, model)  # no globs: every model
    keys.authorize_model(Caller(None, "::1"), model)  # keys off


# --- tickets ------------------------------------------------------------------------------------


@pytest.fixture
def clock() -> Iterator[Clock]:
    yield Clock()


def ticket_query(ticket: str) -> bytes:
    return b"ticket=" + ticket.encode()


async def test_a_ticket_works_once_and_as_the_key_that_minted_it(clock: Clock) -> None:
    keys = ring(clock=clock)
    other = await keys.authenticate(scope(bearer(OTHER)), "::1")
    body = await keys.mint_ticket(other)
    assert body["expires_in"] == 30
    ticket = str(body["ticket"])
    caller = await keys.authenticate(scope(query=b"stream=1&" + ticket_query(ticket)), "::1")
    assert caller.key_id == "other" and caller.key == other.key
    with pytest.raises(Forbidden):
        keys.authorize_model(caller, "mock/chat")  # the ticket carries the key's models
    assert "already used" in await refusal(keys, query=ticket_query(ticket))
    assert len(keys.tickets) == 0


async def test_a_ticket_expires_after_its_ttl(clock: Clock) -> None:
    keys = ring(ttl=2.0, clock=clock)
    good = await keys.authenticate(scope(bearer(GOOD)), "::1")
    early, late = (
        str((await keys.mint_ticket(good))["ticket"]),
        str((await keys.mint_ticket(good))["ticket"]),
    )
    clock.now += 1.9
    assert (await keys.authenticate(scope(query=ticket_query(early)), "::1")).key_id == "good"
    clock.now += 0.2
    await refusal(keys, query=ticket_query(late))
    assert len(keys.tickets) == 0  # expired tickets do not stay behind


@pytest.mark.parametrize(
    "query",
    [
        b"ticket=",
        b"ticket=nope",
        b"ticket=" + b"t" * 5000,
        b"ticket=%FF%FE",
        b"ticket=a&ticket=b",
    ],
)
async def test_unknown_or_malformed_tickets_are_a_401(query: bytes) -> None:
    assert "ticket" in await refusal(ring(), query=query)


async def test_a_ticket_and_a_key_together_are_refused(clock: Clock) -> None:
    keys = ring(clock=clock)
    good = await keys.authenticate(scope(bearer(GOOD)), "::1")
    ticket = str((await keys.mint_ticket(good))["ticket"])
    await refusal(keys, bearer(GOOD), query=ticket_query(ticket))


async def test_a_flood_of_mints_is_bounded_per_key_and_recovers_after_the_ttl(clock: Clock) -> None:
    keys = ring(ttl=10.0, clock=clock, per_key=50)
    good = await keys.authenticate(scope(bearer(GOOD)), "::1")
    other = await keys.authenticate(scope(bearer(OTHER)), "::1")
    minted = [str((await keys.mint_ticket(good))["ticket"]) for _ in range(50)]
    for _ in range(1000):
        with pytest.raises(RateLimited) as caught:
            await keys.mint_ticket(good)
    assert caught.value.http_status == 429 and caught.value.retry_after == 10
    assert len(keys.tickets) == 50
    await keys.mint_ticket(other)  # one key's flood does not starve another
    await keys.authenticate(scope(query=ticket_query(minted[0])), "::1")  # redeeming frees a place
    await keys.mint_ticket(good)
    clock.now += 10.0
    await keys.mint_ticket(good)
    assert len(keys.tickets) == 1  # everything older expired and is gone


def test_a_ticket_ttl_is_at_most_sixty_seconds() -> None:
    with pytest.raises(ValueError):
        TicketBook(61)
    with pytest.raises(ValueError):
        Settings.model_validate({"auth": {"ticket_ttl": 61}})


# --- client keys and tickets in text that gets shown or logged ----------------------------------


def test_client_keys_and_tickets_are_redacted_from_any_text() -> None:
    from aichatflow.redaction import REDACTED, redact, redacted_excerpt
    from aichatflow.server.key_table import new_key

    key = new_key()
    assert redact(f"upstream said: bad key {key}!") == f"upstream said: bad key {REDACTED}!"
    assert redacted_excerpt(f"echo {key}", limit=15) == f"echo {REDACTED}"
    assert redacted_excerpt(f"echo {key} and on", limit=20) == f"echo {REDACTED} and "
    url = "GET /api/chat/abc/stream?last_event_id=4&ticket=Zm9vYmFyYmF6cXV4&x=1"
    assert redact(url) == f"GET /api/chat/abc/stream?last_event_id=4&ticket={REDACTED}&x=1"
