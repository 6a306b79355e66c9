"""``server/cors.py`` on its own: which ``Origin`` values are granted, and what each answer
carries. The same part on a real server, streaming, is ``test_cors_and_host.py``."""

from __future__ import annotations

import pytest
from starlette.types import Scope

from aichatflow.errors import ConfigError
from aichatflow.server.cors import (
    ALLOW_HEADERS,
    EXPOSE_HEADERS,
    OriginAllowlist,
    build_cors,
    canonical_origin,
)
from tests.conftest import make_settings

ALLOWED = "https://app.example"

HOSTILE = [
    "https://evil.example",
    "null",
    "https://app.example.evil.com",
    "https://evil.com/https://app.example",
    "https://app.example/",
    "https://app.example/path",
    "https://app.example@evil.com",
    "https://evil.com@app.example",
    "https://evil.com#https://app.example",
    "https://evil.com?https://app.example",
    "http://app.example",  # another scheme is another origin
    "https://app.example:8443",  # another port too
    "https://app.example.",
    "https://app.exampl",
    "https://xapp.example",
    "https://app-example",
    "app.example",
    "//app.example",
    "https:app.example",
    "https://",
    "",
    " https://app.example",
    "https://app.example ",
    "https://app.example\x00",
    "https://app.example,https://evil.example",
    "https://app.example https://evil.example",
    "ftp://app.example",
    "javascript://app.example",
    "https://app.example:99999",
    "https://app.example:0",
    "https://app.example:-443",
    "https://app.example:",
    "*",
    "https://*.example",
]


def scope(method: str = "POST", **headers: str | bytes) -> Scope:
    raw = [
        (
            name.replace("_", "-").lower().encode(),
            v if isinstance(v, bytes) else v.encode("latin-1"),
        )
        for name, v in headers.items()
    ]
    return {"type": "http", "method": method, "path": "/api/chat", "headers": raw}


def preflight(
    cors: OriginAllowlist, origin: str | bytes, **more: str
) -> tuple[int, dict[bytes, bytes]]:
    answer = cors.preflight(
        scope("OPTIONS", origin=origin, access_control_request_method="POST", **more)
    )
    assert answer is not None
    status, headers = answer
    assert len({name for name, _ in headers}) == len(headers), headers
    return status, dict(headers)


def acao_free(headers: dict[bytes, bytes]) -> bool:
    return not any(name.startswith(b"access-control-") for name in headers)


@pytest.fixture
def cors() -> OriginAllowlist:
    built = build_cors(make_settings(cors={"allow_origins": [ALLOWED], "max_age": 321}))
    assert built is not None
    return built


def test_off_by_default() -> None:
    assert build_cors(make_settings()) is None


@pytest.mark.parametrize("origin", HOSTILE)
def test_hostile_origins_are_not_granted(cors: OriginAllowlist, origin: str) -> None:
    assert not cors.allows(origin.encode("latin-1"))
    assert cors.headers(scope(origin=origin)) == [(b"vary", b"Origin")]
    status, headers = preflight(cors, origin, access_control_request_headers="authorization")
    assert status == 400
    assert acao_free(headers)


def test_bytes_that_are_not_ascii_are_not_granted(cors: OriginAllowlist) -> None:
    for origin in (b"https://app.example\xff", "https://äpp.example".encode(), b"\xc3\xa4"):
        assert not cors.allows(origin)
        assert preflight(cors, origin)[0] == 400


@pytest.mark.parametrize(
    "origin",
    [ALLOWED, "HTTPS://APP.EXAMPLE", "https://App.Example", "https://app.example:443"],
)
def test_the_allowed_origin_however_written_is_echoed_exactly(
    cors: OriginAllowlist, origin: str
) -> None:
    assert cors.allows(origin.encode())
    headers = dict(cors.headers(scope(origin=origin)))
    assert headers[b"access-control-allow-origin"] == origin.encode()
    assert headers[b"vary"] == b"Origin"
    assert headers[b"access-control-expose-headers"].decode().split(", ") == list(EXPOSE_HEADERS)
    assert b"access-control-allow-credentials" not in headers


def test_preflight_grant(cors: OriginAllowlist) -> None:
    status, headers = preflight(
        cors,
        ALLOWED,
        access_control_request_headers="content-type,x-evil,Authorization, last-event-id",
    )
    assert status == 204
    assert headers[b"access-control-allow-origin"] == ALLOWED.encode()
    assert headers[b"vary"] == b"Origin"
    assert headers[b"access-control-allow-methods"] == b"GET, POST, OPTIONS"
    # only the requested headers the API reads, never one it was not asked for
    assert headers[b"access-control-allow-headers"] == b"authorization, content-type, last-event-id"
    assert headers[b"access-control-max-age"] == b"321"
    assert b"access-control-allow-credentials" not in headers


def test_preflight_without_requested_headers_grants_none(cors: OriginAllowlist) -> None:
    status, headers = preflight(cors, ALLOWED)
    assert status == 204
    assert b"access-control-allow-headers" not in headers
    status, headers = preflight(cors, ALLOWED, access_control_request_headers="x-evil, cookie")
    assert status == 204
    assert b"access-control-allow-headers" not in headers


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "post", "CONNECT", "", "POST, PUT"])
def test_preflight_for_a_method_the_api_has_not_is_refused(
    cors: OriginAllowlist, method: str
) -> None:
    answer = cors.preflight(scope("OPTIONS", origin=ALLOWED, access_control_request_method=method))
    assert answer == (400, [])


def test_not_a_preflight() -> None:
    cors = OriginAllowlist((ALLOWED,), max_age=1)
    assert (
        cors.preflight(scope("POST", origin=ALLOWED, access_control_request_method="POST")) is None
    )
    assert cors.preflight(scope("OPTIONS", origin=ALLOWED)) is None
    assert cors.preflight(scope("OPTIONS", access_control_request_method="POST")) is None


def test_no_origin_gets_only_vary(cors: OriginAllowlist) -> None:
    assert cors.headers(scope()) == [(b"vary", b"Origin")]


def test_answers_are_fresh_lists(cors: OriginAllowlist) -> None:
    """The gate may add to what it is given: that must not change the next answer."""
    cors.headers(scope()).append((b"x", b"y"))
    cors.headers(scope(origin=ALLOWED)).append((b"x", b"y"))
    assert cors.headers(scope()) == [(b"vary", b"Origin")]
    assert len(cors.headers(scope(origin=ALLOWED))) == 3
    wildcard = OriginAllowlist(("*",), max_age=1)
    wildcard.headers(scope()).append((b"x", b"y"))
    assert len(wildcard.headers(scope())) == 2


@pytest.mark.parametrize("origin", [ALLOWED, "https://evil.example", "null", "junk"])
def test_wildcard_grants_star_and_never_credentials(origin: str) -> None:
    cors = build_cors(make_settings(cors={"allow_origins": ["*"]}))
    assert cors is not None
    headers = dict(cors.headers(scope(origin=origin)))
    assert headers[b"access-control-allow-origin"] == b"*"
    assert b"access-control-allow-credentials" not in headers
    assert b"vary" not in headers
    status, pre = preflight(cors, origin, access_control_request_headers="authorization")
    assert status == 204
    assert pre[b"access-control-allow-origin"] == b"*"
    assert pre[b"access-control-allow-headers"] == b"authorization"
    assert b"access-control-allow-credentials" not in pre


def test_wildcard_beside_names_is_still_star() -> None:
    cors = OriginAllowlist((ALLOWED, "*"), max_age=1)
    assert dict(cors.headers(scope(origin=ALLOWED)))[b"access-control-allow-origin"] == b"*"


def test_several_origins_ports_and_addresses() -> None:
    cors = OriginAllowlist(
        (
            "https://a.example",
            "http://127.0.0.1:8080",
            "http://[::1]:3000",
            "https://B.example:443",
        ),
        max_age=1,
    )
    for ok in (
        "https://a.example",
        "http://127.0.0.1:8080",
        "http://[::1]:3000",
        "https://b.example",
    ):
        assert cors.allows(ok.encode()), ok
    for bad in ("http://127.0.0.1", "http://127.0.0.1:8081", "http://[::1]", "https://c.example"):
        assert not cors.allows(bad.encode()), bad


@pytest.mark.parametrize(
    "entry",
    [
        "https://app.example/path",
        "https://user@app.example",
        "https://app.example:70000",
        "https://*.example",
        "https://äpp.example",
        "https://app.example?x",
        "https://",
    ],
)
def test_a_listed_value_that_is_not_an_origin_fails_at_start_up(entry: str) -> None:
    with pytest.raises(ConfigError, match=r"cors.allow_origins: .* is not an origin"):
        build_cors(make_settings(cors={"allow_origins": [entry]}))


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        ("https://app.example", "https://app.example"),
        ("HTTPS://App.Example:443", "https://app.example"),
        ("http://app.example:80", "http://app.example"),
        ("http://app.example:443", "http://app.example:443"),
        ("https://app.example:0443", "https://app.example"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("https://app.example/", None),
        ("null", None),
    ],
)
def test_canonical_origin(value: str, canonical: str | None) -> None:
    assert canonical_origin(value) == canonical


def test_allow_headers_cover_what_the_api_reads() -> None:
    assert {"authorization", "x-api-key", "content-type", "last-event-id"} <= set(ALLOW_HEADERS)
