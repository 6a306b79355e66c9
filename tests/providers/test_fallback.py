"""Fallback chains and cooldown (issue 4, docs/reliability.md T21): a request survives a provider
outage by moving on before the first token, and never mixes two models' text after it."""

from __future__ import annotations

import asyncio
from typing import Any

from aichatflow.providers.fallback import Cooldowns
from tests.support.client import stream_chat, user
from tests.support.upstream import FakeUpstream, Script, respond

FAST = {"kind": "mock", "tokens_per_second": 0, "first_token_ms": 0}


def test_cooldown_after_repeated_failures_with_an_injected_clock() -> None:
    now = [100.0]
    c = Cooldowns(allowed_fails=1, cooldown=2.0, window=10.0, clock=lambda: now[0])
    c.failed("p/m")
    assert c.available("p/m")  # one failure is allowed
    c.failed("p/m")
    assert not c.available("p/m")
    now[0] += 2.01
    assert c.available("p/m")
    c.failed("p/m")
    assert c.available("p/m")  # the count started again after the cooldown
    c.succeeded("p/m")
    c.failed("p/m")
    assert c.available("p/m")
    now[0] += 20
    c.failed("p/m")  # failures older than the window do not add up
    assert c.available("p/m")


class Reports:
    """A ``CooldownSharing`` that records what it is told."""

    def __init__(self) -> None:
        self.told: list[tuple[str, str]] = []

    def failed(self, name: str) -> None:
        self.told.append(("failed", name))

    def recovered(self, name: str) -> None:
        self.told.append(("recovered", name))


def test_a_success_ends_a_cooldown() -> None:
    now = [100.0]
    c = Cooldowns(allowed_fails=0, cooldown=30.0, clock=lambda: now[0])
    c.failed("p/m")
    assert not c.available("p/m")
    c.succeeded("p/m")  # tried anyway (every deployment was cooling) and it answered
    assert c.available("p/m")


def test_sharing_hears_of_failures_and_recoveries_only() -> None:
    """A healthy chain tells the sharing nothing: it adds no work (no Redis call) to requests
    while nothing fails."""
    reports = Reports()
    c = Cooldowns(allowed_fails=1, cooldown=30.0, sharing=reports)
    for _ in range(5):
        c.succeeded("p/m")
    assert reports.told == []
    c.failed("p/m")
    c.succeeded("p/m")  # forgives the failure: others forget theirs too
    c.succeeded("p/m")
    assert reports.told == [("failed", "p/m"), ("recovered", "p/m")]


def test_news_from_other_instances() -> None:
    now = [100.0]
    reports = Reports()
    c = Cooldowns(allowed_fails=1, cooldown=30.0, clock=lambda: now[0], sharing=reports)
    c.cool("p/m", 5.0)  # a remaining duration, added to this clock
    assert not c.available("p/m") and c.ready_at("p/m") == 105.0
    now[0] += 5.01
    assert c.available("p/m")
    c.failed("p/m")  # one allowed failure, then the news that it answered elsewhere
    c.cool("p/m", 5.0)
    c.clear("p/m")
    assert c.available("p/m")
    c.failed("p/m")  # the earlier failure was forgiven: this one is allowed again
    assert c.available("p/m")
    assert reports.told == [("failed", "p/m"), ("failed", "p/m")]  # news is not echoed back


async def test_falls_back_before_the_first_token_and_says_who_answered(start_server: Any) -> None:
    server = start_server(
        providers={
            "down": {**FAST, "error_after": 0, "error_code": "upstream_overloaded"},
            "up": FAST,
        },
        models={"safe": ["down/chat", "up/echo"]},
    )
    got = await stream_chat(server.url, {"model": "safe", "messages": user("hello there")})
    assert got.names() == ["start", "model", "text", "text", "done"]
    assert got.data("start")[0]["deployment"] == "down/chat"
    assert got.data("model")[0] == {"deployment": "up/echo"}
    assert got.text() == "hello there"


async def test_no_fallback_once_text_reached_the_client(start_server: Any) -> None:
    server = start_server(
        providers={"flaky": {**FAST, "error_after": 3}, "up": FAST},
        models={"safe": ["flaky/chat", "up/echo"]},
    )
    got = await stream_chat(server.url, {"model": "safe", "messages": user("ECHO")})
    assert got.names() == ["start", "text", "text", "text", "error"]
    # exactly the first model's three tokens; nothing from the second model glued on
    assert got.text() == "You asked: \u201cECHO\u201d."
    assert got.data("error")[0]["code"] == "upstream_overloaded"


async def test_cooldown_spares_a_failing_deployment(
    start_server: Any, fake_upstream_server: FakeUpstream
) -> None:
    """T21: the primary returns 500; after allowed_fails it is skipped until the cooldown ends,
    so an outage does not cost every request an attempt; then it is probed again."""
    fake = fake_upstream_server
    fake.default = Script(respond(500, {"error": {"message": "boom"}}))
    server = start_server(
        providers={
            "primary": {
                "kind": "openai-compatible",
                "base_url": f"{fake.url}/v1",
                "max_retries": 0,
            },
            "backup": FAST,
        },
        models={"safe": ["primary/m", "backup/echo"]},
        fallback={"allowed_fails": 1, "cooldown": 1.0},
    )
    body = {"model": "safe", "messages": user("ok")}
    for _ in range(6):
        got = await stream_chat(server.url, body)
        assert got.text() == "ok" and got.names()[-1] == "done"
    assert fake.attempts == 2  # the first two requests paid an attempt; four did not
    await asyncio.sleep(1.1)
    got = await stream_chat(server.url, body)
    assert got.text() == "ok"
    assert fake.attempts == 3  # probed again after the cooldown


async def test_a_bad_request_is_not_retried_elsewhere(
    start_server: Any, fake_upstream_server: FakeUpstream
) -> None:
    fake = fake_upstream_server
    fake.default = Script(respond(400, {"error": {"message": "context too long"}}))
    server = start_server(
        providers={
            "primary": {
                "kind": "openai-compatible",
                "base_url": f"{fake.url}/v1",
                "max_retries": 0,
            },
            "backup": FAST,
        },
        models={"safe": ["primary/m", "backup/echo"]},
    )
    got = await stream_chat(server.url, {"model": "safe", "messages": user("ok")})
    assert got.names() == ["start", "error"]
    assert got.data("error")[0]["code"] == "bad_request"


async def test_openai_endpoint_gets_the_fallback_answer(start_server: Any) -> None:
    server = start_server(
        providers={"down": {**FAST, "error_after": 0}, "up": FAST},
        models={"safe": ["down/chat", "up/echo"]},
    )
    body = {"model": "safe", "messages": user("via v1"), "stream": False}
    got = await stream_chat(server.url, body, path="/v1/chat/completions")
    assert got.status == 200
    assert b'"content":"via v1"' in got.raw


async def test_when_every_deployment_fails_the_last_error_is_reported(start_server: Any) -> None:
    server = start_server(
        providers={
            "a": {**FAST, "error_after": 0, "error_code": "upstream_overloaded"},
            "b": {**FAST, "error_after": 0, "error_code": "upstream_rate_limited"},
        },
        models={"safe": ["a/x", "b/y"]},
    )
    got = await stream_chat(server.url, {"model": "safe", "messages": user()})
    assert got.names() == ["start", "error"]
    assert got.data("error")[0]["code"] == "upstream_rate_limited"
