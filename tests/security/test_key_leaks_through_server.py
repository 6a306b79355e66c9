"""End to end: an upstream error that echoes the provider's key, at offsets around the cut, shows
no 8-character piece of that key in a native error frame, a ``/v1`` error body (streamed or
not) or a server log line.

A real aichatflow server on a real socket talks to the fake upstream (real bytes); each
provider family answers the way it really does when it rejects a key, with the configured key
placed so that it starts just before, across or just after the 300-character cut.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.server import LogCapture
from tests.support.upstream import FakeUpstream, Script, respond
from tests.upstream._client import NATIVE, OPENAI, Result, assert_clean, chat, request_body

from ._secrets import (
    ANTHROPIC_KEY,
    CUT,
    GOOGLE_KEY,
    HEADER_KEY,
    LEAD,
    OPAQUE_KEY,
    OPENAI_KEY,
    leaks,
    message_with,
)


@dataclass(frozen=True)
class Family:
    """One provider kind, its key, and how it answers a rejected key."""

    kind: str
    key: str
    status: int
    model: str

    def provider(self, fake: FakeUpstream) -> dict[str, Any]:
        base = f"{fake.url}/v1" if self.kind == "openai-compatible" else fake.url
        return {"kind": self.kind, "base_url": base, "api_key": self.key, "max_retries": 2}

    def body(self, message: str) -> dict[str, Any]:
        if self.kind == "anthropic":
            return {"type": "error", "error": {"type": "authentication_error", "message": message}}
        if self.kind == "gemini":
            reason = {"@type": "type.googleapis.com/google.rpc.ErrorInfo"}
            reason["reason"] = "API_KEY_INVALID"
            error = {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}
            return {"error": {**error, "details": [reason]}}
        error = {"message": message, "type": "invalid_request_error", "code": "invalid_api_key"}
        return {"error": error}


FAMILIES = [
    Family("openai-compatible", OPAQUE_KEY, 401, "p/gpt-test"),
    Family("openai-compatible", OPENAI_KEY, 401, "p/gpt-test"),
    Family("anthropic", ANTHROPIC_KEY, 401, "p/claude-test"),
    Family("gemini", GOOGLE_KEY, 400, "p/gemini-2.5-flash"),
]
IDS = ["openai-opaque-key", "openai-sk-proj", "anthropic-sk-ant", "gemini-AIza"]


def offsets(key: str) -> list[int]:
    """The key whole before the cut (the control), all but its last character before it, half
    of it, its first 8 characters, and its first character only."""
    return [CUT - len(key), CUT - len(key) + 1, CUT - len(key) // 2, CUT - 8, CUT - 1]


CASES = [
    pytest.param(family, offset, id=f"{name}-at-{offset}")
    for family, name in zip(FAMILIES, IDS, strict=True)
    for offset in offsets(family.key)
]


def _error_of(result: Result) -> dict[str, Any]:
    """The error the client saw: the native ``error`` frame, or the ``/v1`` JSON body."""
    if result.native:
        assert result.status == 200
        assert [f.event for f in result.frames] == ["start", "error"]
        assert result.error is not None
        return result.error
    assert result.status == 502, result.raw[:200]
    assert result.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = result.body_json()["error"]
    return error


@pytest.mark.parametrize(("family", "offset"), CASES)
async def test_an_echoed_key_never_reaches_a_client_or_a_log(
    family: Family,
    offset: int,
    fake: FakeUpstream,
    start_server: Any,
    server_logs: LogCapture,
) -> None:
    key = family.key
    fake.default = Script(respond(family.status, family.body(message_with(key, offset))))
    server = start_server(providers={"p": family.provider(fake)})
    requests = [
        (NATIVE, request_body(NATIVE, model=family.model)),
        (OPENAI, request_body(OPENAI, model=family.model)),
        (OPENAI, request_body(OPENAI, model=family.model, stream=False)),
    ]
    for number, (path, body) in enumerate(requests, 1):
        result = await chat(server.url, path, body=body)
        error = _error_of(result)
        assert error["code"] == "upstream_auth", error
        assert LEAD in error["message"], error  # the upstream's own message did come through
        assert not leaks(key, result.raw), (path, body.get("stream"), error["message"][-80:])
        assert not leaks(key, repr(result.headers))
        assert fake.attempts == number  # an auth failure is never retried
        assert_clean(result, fake, server_logs)
    assert "upstream_auth" in server_logs.text()  # the failures were logged...
    assert not leaks(key, server_logs.text()), server_logs.text()[-400:]  # ...without the key


@pytest.mark.parametrize("offset", [CUT - len(HEADER_KEY) + 1, CUT - 16, CUT - 8])
@pytest.mark.parametrize(
    ("header", "value"),
    [("api-key", HEADER_KEY), ("Authorization", f"Bearer {HEADER_KEY}")],
    ids=["azure-api-key", "authorization-bearer"],
)
async def test_a_credential_in_configured_headers_is_a_secret_too(
    header: str,
    value: str,
    offset: int,
    fake: FakeUpstream,
    start_server: Any,
    server_logs: LogCapture,
) -> None:
    """A key given through ``headers`` (Azure's ``api-key``, a gateway's own ``Authorization``)
    instead of ``api_key`` is redacted just the same, the bare token after ``Bearer`` too."""
    error = {"message": message_with(HEADER_KEY, offset), "type": "invalid_request_error"}
    fake.default = Script(respond(401, {"error": error}))
    options = {"kind": "openai-compatible", "base_url": f"{fake.url}/v1", "max_retries": 0}
    server = start_server(providers={"p": {**options, "headers": {header: value}}})
    for path in (NATIVE, OPENAI):
        result = await chat(server.url, path, body=request_body(path, model="p/gpt-test"))
        error = _error_of(result)
        assert error["code"] == "upstream_auth" and LEAD in error["message"], error
        assert not leaks(HEADER_KEY, result.raw), error["message"][-80:]
        assert_clean(result, fake, server_logs)
    assert fake.requests[0].headers[header.lower()] == value  # the credential was really used
    assert not leaks(HEADER_KEY, server_logs.text()), server_logs.text()[-400:]
