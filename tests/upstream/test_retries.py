"""Retries before the first token, and what is never retried (docs/reliability.md, T18, T20, T29).

aichatflow is the one retry layer: it retries 5xx/429 before any content, honours
``Retry-After`` (and gives up at once when it asks for more than 120 s, like the OpenAI SDK),
never retries auth failures, and tells ``/v1`` callers ``x-should-retry: false`` so an SDK does
not multiply the attempts again.
"""

from __future__ import annotations

import uuid
from itertools import pairwise
from typing import Any

from tests.support.server import LogCapture
from tests.support.upstream import (
    Chunks,
    FakeUpstream,
    Script,
    done,
    event,
    headers,
    openai_stream,
    respond,
    sleep,
    stall,
)

from ._client import (
    AT_ONCE,
    NATIVE,
    OPENAI,
    TIMER_SLACK,
    Result,
    assert_clean,
    assert_upstream_closed,
    chat,
)
from .conftest import ServeFn

OVERLOADED = {"error": {"message": "The engine is overloaded", "type": "server_error"}}
RATE_LIMITED = {"error": {"message": "Rate limit reached", "type": "requests", "code": None}}


def gaps(fake: FakeUpstream) -> list[float]:
    times = [r.received_at for r in fake.requests]
    return [b - a for a, b in pairwise(times)]


def assert_pre_stream_error(result: Result, code: str, status: int, *, retryable: bool) -> None:
    """Native: ``start`` was already sent, so the error is a frame. ``/v1``: headers were held
    back, so it is a real HTTP status with an OpenAI error body."""
    if result.native:
        assert result.status == 200
        assert [f.event for f in result.frames] == ["start", "error"]
        assert result.error is not None
        assert result.error["code"] == code and result.error["retryable"] is retryable
    else:
        assert result.status == status
        assert result.headers["x-should-retry"] == "false"
        assert result.body_json()["error"]["code"] == code


async def test_503s_before_content_are_retried_honouring_retry_after(
    fake: FakeUpstream, serve: ServeFn, server_logs: LogCapture, path: str
) -> None:
    """503 with ``Retry-After: 0.3``, 503 without it (exponential backoff), then a good stream:
    one clean stream, one ``start``, the text once, three attempts of the same request."""
    fake.queue(
        Script(respond(503, OVERLOADED, retry_after="0.3")),
        Script(respond(503, OVERLOADED)),
        Script(openai_stream(["Hello", " again"])),
    )
    result = await chat(serve(max_retries=2).url, path)
    assert result.status == 200
    assert result.text == "Hello again"
    assert result.error is None
    if result.native:
        assert [f.event for f in result.frames].count("start") == 1
        assert result.terminals[0].event == "done"
    assert fake.attempts == 3
    first, second = gaps(fake)
    assert first >= 0.3
    assert second >= 0.5 * 2 * 0.75  # backoff 0.5 s x 2^1, minus at most 25 % jitter
    assert len({r.body for r in fake.requests}) == 1
    assert_clean(result, fake, server_logs)


async def test_always_429_makes_exactly_one_plus_max_retries_attempts(
    fake: FakeUpstream, serve: ServeFn, server_logs: LogCapture, path: str
) -> None:
    """Attempts == 1 + max_retries exactly, then ``upstream_rate_limited``."""
    fake.default = Script(respond(429, RATE_LIMITED, retry_after="0.2"))
    result = await chat(serve(max_retries=1).url, path)
    assert fake.attempts == 2
    assert gaps(fake)[0] >= 0.2
    assert_pre_stream_error(result, "upstream_rate_limited", 429, retryable=True)
    assert_clean(result, fake, server_logs)


async def test_retry_after_over_the_cap_is_not_retried(
    fake: FakeUpstream, serve: ServeFn, server_logs: LogCapture, path: str
) -> None:
    """``Retry-After: 3600`` is over the 120 s cap: answer at once instead of waiting."""
    fake.default = Script(respond(429, RATE_LIMITED, retry_after="3600"))
    result = await chat(serve(max_retries=2).url, path)
    assert fake.attempts == 1
    assert result.ended_at is not None and result.ended_at - result.sent_at < AT_ONCE
    assert_pre_stream_error(result, "upstream_rate_limited", 429, retryable=True)
    assert_clean(result, fake, server_logs)


async def test_429_retry_after_reaches_the_client(
    fake: FakeUpstream, serve: ServeFn, server_logs: LogCapture, path: str
) -> None:
    """When aichatflow gives up, the upstream's ``Retry-After`` is passed on: a header on
    ``/v1`` (headers were held back), a field of the native ``error`` frame."""
    fake.default = Script(respond(429, RATE_LIMITED, retry_after="7"))
    result = await chat(serve(max_retries=0).url, path)
    assert fake.attempts == 1
    assert_pre_stream_error(result, "upstream_rate_limited", 429, retryable=True)
    if result.native:
        assert result.error is not None and result.error["retry_after"] == 7
    else:
        assert result.headers["retry-after"] == "7"
    assert_clean(result, fake, server_logs)


async def test_attempt_without_a_first_token_is_abandoned_and_retried(
    fake: FakeUpstream, serve: ServeFn, server_logs: LogCapture, path: str
) -> None:
    """T08 (docs/reliability.md): each attempt gets ``first_token_timeout``; an upstream that never
    answers is abandoned (its connection closed) and retried, up to ``max_retries``."""
    fake.default = Script([stall(10)])
    server = serve(max_retries=2, first_token_timeout=0.5)
    result = await chat(server.url, path)
    assert fake.attempts == 3
    for rec in fake.requests:
        closed = rec.wait_peer_closed(3.0)
        assert closed is not None and 0.4 <= closed - rec.received_at <= 0.5 + TIMER_SLACK
    assert_pre_stream_error(result, "upstream_timeout", 504, retryable=True)
    assert result.ended_at is not None and result.ended_at - result.sent_at < 5.0
    assert_clean(result, fake, server_logs)


async def test_first_token_timeout_does_not_cut_a_committed_stream(
    fake: FakeUpstream, serve: ServeFn, server_logs: LogCapture, path: str
) -> None:
    """Once content flowed, the per-attempt timer is off: a slow but steady stream finishes."""
    c = Chunks()
    slow = [headers(200), event(c.role())]
    for text in "abcd":
        slow += [sleep(0.3), event(c.content(text))]
    fake.default = Script([*slow, event(c.finish()), done()])
    result = await chat(serve(max_retries=2, first_token_timeout=0.5).url, path)
    assert result.text == "abcd"
    assert fake.attempts == 1
    assert_clean(result, fake, server_logs)


def canary_paths(canary: str) -> list[tuple[str, Script]]:
    """Upstream answers that echo the key back, as real ones do (LiteLLM PR #25203)."""
    echo = f"Incorrect API key provided: {canary}. Authorization: Bearer {canary}"
    body: dict[str, Any] = {
        "error": {"message": echo, "type": "invalid_request_error", "code": "invalid_api_key"}
    }
    c = Chunks()
    in_band = {"error": {"message": f"key {canary} revoked", "type": "server_error"}}
    return [
        ("401", Script(respond(401, body, www_authenticate=f'Bearer realm="{canary}"'))),
        ("403-text", Script(respond(403, f"forbidden for {canary}".encode()))),
        ("in-band", Script([headers(200), event(c.content("hi")), event(in_band), stall(5)])),
    ]


async def test_auth_errors_are_not_retried_and_the_key_never_leaks(
    fake: FakeUpstream, serve: ServeFn, server_logs: LogCapture
) -> None:
    """401/403 become ``upstream_auth`` and are never retried (max_retries=2); the provider key
    echoed by the upstream appears in no status line, header, body, frame or log line."""
    canary = f"sk-CANARY-{uuid.uuid4().hex}"
    server = serve(max_retries=2, api_key=canary)
    seen: list[bytes] = []
    for name, script in canary_paths(canary):
        for path in (NATIVE, OPENAI):
            fake.queue(script)
            before = fake.attempts
            result = await chat(server.url, path)
            assert fake.attempts == before + 1, f"{name} {path} was retried"
            assert fake.requests[-1].headers["authorization"] == f"Bearer {canary}"
            seen += [str(result.status).encode(), repr(result.headers).encode(), result.raw]
            if name != "in-band":
                assert_pre_stream_error(result, "upstream_auth", 502, retryable=False)
            else:
                assert result.text == "hi" and result.error_code == "upstream_error"
            assert_clean(result, fake, server_logs)
    assert not [s for s in seen if canary.encode() in s or b"CANARY" in s]
    assert "CANARY" not in server_logs.text()
    assert_upstream_closed(fake, server_logs)
