"""An authentication failure reported *inside* a 200 response is ``upstream_auth``, and is never
retried: exactly one upstream call, ``retryable: false`` to the client.

OpenAI-compatible servers and relays can answer 200 and then put ``{"error": {...}}`` in the
event stream; Anthropic sends ``event: error``; Gemini an ``{"error": {"status": ...}}`` object.
Each is classified by its structured ``code``/``type``/``status`` fields (never by message
text). Retrying a rejected key costs two more calls that fail the same way and tells a client it
may try again. For each family a retryable in-band error is the control: the same fake, the same
policy, and it *is* retried, so "one call" is the classification's doing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.server import LogCapture
from tests.support.upstream import Action, FakeUpstream, Script, event, headers, raw, respond, stall

from ._client import NATIVE, Result, assert_clean, chat, request_body
from .conftest import ServeFn

OPENAI_AUTH = {
    "invalid_api_key": {
        "message": "Incorrect API key provided: sk-proj-****abcd.",
        "type": "invalid_request_error",
        "code": "invalid_api_key",
    },
    "litellm_auth_error": {  # LiteLLM's proxy: its own type, the HTTP status as a string
        "message": "Authentication Error, Invalid proxy server token passed.",
        "type": "auth_error",
        "param": "None",
        "code": "401",
    },
    "insufficient_quota": {  # no credit left: only an operator can fix it
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "type": "insufficient_quota",
        "param": None,
        "code": "insufficient_quota",
    },
}
ANTHROPIC_AUTH = ["authentication_error", "permission_error", "billing_error"]
GEMINI_AUTH = {
    "UNAUTHENTICATED": {"code": 401, "message": "Request had invalid credentials."},
    "PERMISSION_DENIED": {"code": 403, "message": "Permission denied on resource project x."},
    "API_KEY_INVALID": {
        "code": 400,
        "message": "API key not valid. Please pass a valid API key.",
        "status": "INVALID_ARGUMENT",
        "details": [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
        ],
    },
}


def anthropic_event(kind: str, payload: dict[str, Any]) -> Action:
    data = json.dumps({"type": kind, **payload}, separators=(",", ":"))
    return raw(f"event: {kind}\ndata: {data}\n\n".encode())


def gemini_data(payload: dict[str, Any]) -> Action:
    return raw(b"data: " + json.dumps(payload).encode() + b"\r\n\r\n")


@dataclass(frozen=True)
class Case:
    """A provider family, and the 200 response that carries the in-band error."""

    kind: str
    answer: list[Action]

    def provider(self, fake: FakeUpstream) -> dict[str, Any]:
        base = f"{fake.url}/v1" if self.kind == "openai-compatible" else fake.url
        return {"kind": self.kind, "base_url": base, "api_key": "test-key-0123456789"}


def openai_case(error: dict[str, Any]) -> Case:
    return Case("openai-compatible", [headers(200), event({"error": error}), stall(5)])


def anthropic_case(error_type: str) -> Case:
    error = {"error": {"type": error_type, "message": f"{error_type}: rejected"}}
    return Case("anthropic", [headers(200), anthropic_event("error", error), stall(5)])


def gemini_case(error: dict[str, Any]) -> Case:
    return Case("gemini", [headers(200), gemini_data({"error": error}), stall(5)])


AUTH_CASES = [
    *(pytest.param(openai_case(e), id=f"openai-{name}") for name, e in OPENAI_AUTH.items()),
    pytest.param(
        Case("openai-compatible", respond(200, {"error": OPENAI_AUTH["invalid_api_key"]})),
        id="openai-json-body-invalid_api_key",
    ),
    *(pytest.param(anthropic_case(t), id=f"anthropic-{t}") for t in ANTHROPIC_AUTH),
    pytest.param(  # a relay that writes the error object flat
        Case(
            "anthropic",
            [
                headers(200),
                anthropic_event("error", {"type": "authentication_error", "message": "bad key"}),
                stall(5),
            ],
        ),
        id="anthropic-flat-authentication_error",
    ),
    *(
        pytest.param(gemini_case({"status": status, **e}), id=f"gemini-{status}")
        for status, e in GEMINI_AUTH.items()
        if status != "API_KEY_INVALID"
    ),
    pytest.param(gemini_case(GEMINI_AUTH["API_KEY_INVALID"]), id="gemini-API_KEY_INVALID"),
    pytest.param(  # Gemini's bare (no ``data:``) pretty-printed error object
        Case(
            "gemini",
            [
                headers(200),
                raw(
                    json.dumps({"error": GEMINI_AUTH["API_KEY_INVALID"]}, indent=2).encode() + b"\n"
                ),
                stall(5),
            ],
        ),
        id="gemini-bare-API_KEY_INVALID",
    ),
]

CONTROLS = [
    pytest.param(openai_case({"message": "overloaded", "type": "server_error"}), id="openai"),
    pytest.param(anthropic_case("overloaded_error"), id="anthropic"),
    pytest.param(
        gemini_case({"code": 503, "message": "busy", "status": "UNAVAILABLE"}), id="gemini"
    ),
]


def _model(case: Case) -> str:
    return {"anthropic": "up/claude-test", "gemini": "up/gemini-2.5-flash"}.get(
        case.kind, "up/gpt-test"
    )


@pytest.mark.parametrize("case", AUTH_CASES)
async def test_in_band_auth_error_is_upstream_auth_and_never_retried(
    case: Case, fake: FakeUpstream, serve: ServeFn, server_logs: LogCapture, path: str
) -> None:
    fake.default = Script(case.answer)
    server = serve(**case.provider(fake), max_retries=2)
    result = await chat(server.url, path, body=request_body(path, model=_model(case)))
    assert fake.wait_requests(1) and fake.attempts == 1, f"{fake.attempts} upstream calls"
    assert_not_retryable_auth(result)
    assert_clean(result, fake, server_logs)


def assert_not_retryable_auth(result: Result) -> None:
    """Native: one ``error`` frame after ``start``, ``retryable: false``. ``/v1``: a 502 with an
    OpenAI error body and ``x-should-retry: false`` when the headers were still held back, or,
    when the provider had already announced the stream (its headers went out), an error chunk;
    the OpenAI error object has no ``retryable``, its ``code`` says it all."""
    if result.native:
        assert result.status == 200
        assert [f.event for f in result.frames] == ["start", "error"]
        assert result.error is not None
        assert result.error["code"] == "upstream_auth", result.error
        assert result.error["retryable"] is False
    elif result.status == 200:
        assert not result.content_frames()
        assert result.error_code == "upstream_auth", result.error
    else:
        assert result.status == 502, result.raw[:300]
        assert result.headers["x-should-retry"] == "false"
        assert result.body_json()["error"]["code"] == "upstream_auth"


NO_CREDIT = [
    pytest.param(
        respond(429, {"error": OPENAI_AUTH["insufficient_quota"]}), id="429-insufficient_quota"
    ),
    pytest.param(
        respond(402, {"error": {"message": "Insufficient Balance", "type": "unknown_error"}}),
        id="402-insufficient-balance",
    ),
]


@pytest.mark.parametrize("answer", NO_CREDIT)
async def test_an_account_without_credit_is_upstream_auth_and_never_retried(
    answer: list[Action], fake: FakeUpstream, serve: ServeFn, server_logs: LogCapture, path: str
) -> None:
    """OpenAI's ``insufficient_quota`` comes with a 429 that no wait cures, DeepSeek's empty
    balance with a 402: neither is retried, and neither blames the caller's request."""
    fake.default = Script(answer)
    result = await chat(serve(max_retries=2).url, path)
    assert fake.wait_requests(1) and fake.attempts == 1, f"{fake.attempts} upstream calls"
    assert_not_retryable_auth(result)
    assert_clean(result, fake, server_logs)


@pytest.mark.parametrize("case", CONTROLS)
async def test_a_retryable_in_band_error_is_retried(
    case: Case, fake: FakeUpstream, serve: ServeFn, server_logs: LogCapture
) -> None:
    """The control: the same path with a retryable error makes ``1 + max_retries`` calls."""
    fake.default = Script(case.answer)
    server = serve(**case.provider(fake), max_retries=1)
    result = await chat(server.url, NATIVE, body=request_body(NATIVE, model=_model(case)))
    assert fake.attempts == 2
    assert result.error is not None and result.error["retryable"] is True
    assert_clean(result, fake, server_logs)
