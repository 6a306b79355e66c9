"""Redaction happens before an upstream's message is cut, and nothing of a secret survives a cut.

The defect this guards against: messages were cut to 300 characters *then* redacted, so a key
that started shortly before the cut lost its tail, no longer matched, and its head (25 of 26
characters) reached error frames, ``/v1`` bodies and logs. Every offset around the cut is tried,
for a configured key of no known shape and for keys recognised by their shape alone.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest

from aichatflow.errors import (
    REDACTED,
    ProviderError,
    UpstreamAuth,
    error_from_status,
    redact,
    redacted_excerpt,
    upstream_message,
)
from aichatflow.providers._http_provider import header_secrets
from aichatflow.providers.anthropic._events import stream_error
from aichatflow.providers.gemini._events import gemini_error
from aichatflow.providers.ollama._events import in_band_error as ollama_error
from aichatflow.providers.openai_compat._chunks import in_band_error as openai_error

from ._secrets import (
    ANTHROPIC_KEY,
    BEARER_TOKEN,
    CUT,
    GOOGLE_KEY,
    OPAQUE_KEY,
    OPENAI_KEY,
    SHORT_OPENAI_KEY,
    leaks,
    message_with,
)

OFFSETS = range(CUT - 50, CUT + 11)
"""Every start of the secret from well inside the kept text to past the cut."""
WINDOW = 4
"""No piece of a secret this long may survive (three characters of a key reveal nothing)."""

CASES = [
    pytest.param(OPAQUE_KEY, True, id="configured-opaque"),
    pytest.param(OPENAI_KEY, True, id="configured-sk-proj"),
    pytest.param(OPENAI_KEY, False, id="shape-sk-proj"),
    pytest.param(SHORT_OPENAI_KEY, True, id="configured-sk-26"),
    pytest.param(SHORT_OPENAI_KEY, False, id="shape-sk-26"),
    pytest.param(ANTHROPIC_KEY, True, id="configured-sk-ant"),
    pytest.param(ANTHROPIC_KEY, False, id="shape-sk-ant"),
    pytest.param(GOOGLE_KEY, True, id="configured-AIza"),
    pytest.param(GOOGLE_KEY, False, id="shape-AIza"),
]


def _check(secret: str, make: Callable[[str], str]) -> list[str]:
    """``make(message)`` at every offset; the offsets at which a piece of ``secret`` survived."""
    failures = []
    for offset in OFFSETS:
        shown = make(message_with(secret, offset))
        if leaks(secret, shown, window=WINDOW):
            failures.append(f"offset {offset}: {shown[-60:]!r}")
    return failures


@pytest.mark.parametrize(("key", "configured"), CASES)
def test_no_piece_of_a_key_survives_the_cut(key: str, configured: bool) -> None:
    secrets = [key] if configured else []
    for offset in OFFSETS:
        text = message_with(key, offset)
        shown = redacted_excerpt(text, secrets)
        assert not leaks(key, shown, window=WINDOW), (offset, shown[-60:])
        assert len(shown) <= CUT + len(REDACTED), offset
        kept = min(offset, CUT)
        assert shown.startswith(text[:kept]), f"offset {offset}: redaction ate the message"
        assert shown.count("[") == shown.count(REDACTED), f"offset {offset}: a split marker"
        if offset + len(REDACTED) <= CUT:
            assert REDACTED in shown, offset


@pytest.mark.parametrize("prefix", ["Authorization: Bearer ", "GET /v1/models?key="])
def test_a_bearer_or_url_token_cut_short_is_redacted(prefix: str) -> None:
    for offset in OFFSETS:
        text = message_with(prefix + BEARER_TOKEN, offset)
        shown = redacted_excerpt(text)
        assert not leaks(BEARER_TOKEN, shown, window=WINDOW), (offset, shown[-60:])


def test_the_head_of_a_configured_key_is_redacted_when_the_upstream_cut_it() -> None:
    """An upstream that shortened its own message leaves a key's head at the end of the text."""
    for size in range(WINDOW, len(OPAQUE_KEY)):
        shown = redacted_excerpt(f"key {OPAQUE_KEY[:size]}", [OPAQUE_KEY])
        assert shown == f"key {REDACTED}", size
    shown = redacted_excerpt(f"key {OPENAI_KEY[:12]}")
    assert shown == f"key {REDACTED}"


def test_short_messages_and_plain_text_are_left_alone() -> None:
    assert redacted_excerpt("The engine is overloaded", [OPAQUE_KEY]) == "The engine is overloaded"
    assert redacted_excerpt("x" * 1000) == "x" * CUT
    assert redacted_excerpt("ask - and you shall receive") == "ask - and you shall receive"


@pytest.mark.parametrize("key", [ANTHROPIC_KEY, GOOGLE_KEY, OPENAI_KEY, SHORT_OPENAI_KEY])
def test_credential_patterns_cover_anthropic_and_google_keys(key: str) -> None:
    assert redact(f"bad key {key}, try again") == f"bad key {REDACTED}, try again"
    assert redact(f"x-api-key={key}") == f"x-api-key={REDACTED}"


def test_the_longest_configured_secret_wins() -> None:
    """A secret that contains another is removed whole, not around the shorter one."""
    shown = redact(f"keys {OPAQUE_KEY}", [OPAQUE_KEY[:10], OPAQUE_KEY])
    assert shown == f"keys {REDACTED}"


@pytest.mark.parametrize(("key", "configured"), CASES)
@pytest.mark.parametrize("shape", ["json", "text"])
def test_status_errors_never_show_a_piece_of_the_key(
    key: str, configured: bool, shape: str
) -> None:
    secrets = [key] if configured else []

    def shown(message: str) -> str:
        if shape == "json":
            body = orjson.dumps({"error": {"message": message, "type": "invalid_request_error"}})
        else:
            body = message.encode()
        assert len(upstream_message(body, "none", secrets)) <= CUT + len(REDACTED)
        error = error_from_status(401, body, {}, provider="p", secrets=secrets)
        assert isinstance(error, UpstreamAuth) and error.message.startswith("p: Incorrect")
        return error.message

    assert not _check(key, shown)


IN_BAND: dict[str, Callable[[str, tuple[str, ...]], ProviderError | Exception]] = {
    "openai": lambda m, s: openai_error({"error": {"message": m, "type": "server_error"}}, "p", s),
    "anthropic": lambda m, s: stream_error(
        {"type": "error", "error": {"type": "api_error", "message": m}}, "p", s
    ),
    "gemini": lambda m, s: gemini_error(
        {"error": {"code": 500, "message": m, "status": "INTERNAL"}}, "p", s
    ),
    "ollama": lambda m, s: ollama_error(m, "p", s),
}


@pytest.mark.parametrize("parser", sorted(IN_BAND))
@pytest.mark.parametrize(("key", "configured"), CASES)
def test_in_band_errors_never_show_a_piece_of_the_key(
    parser: str, key: str, configured: bool
) -> None:
    secrets = (key,) if configured else ()

    def shown(message: str) -> str:
        error = IN_BAND[parser](message, secrets)
        assert isinstance(error, ProviderError)
        assert error.message.startswith("p: Incorrect")
        return error.message

    assert not _check(key, shown)


def test_credential_headers_are_secrets_and_short_flags_are_not() -> None:
    headers = {
        "X-Api-Key": "abcdefgh12345",
        "Authorization": "Bearer tok_123456789",
        "x-use-token": "1",  # a flag: redacting every "1" would garble every message
        "accept": "application/json; charset=utf-8",  # not a credential header
    }
    assert header_secrets(headers) == ("abcdefgh12345", "Bearer tok_123456789", "tok_123456789")
