"""Providers note each upstream attempt and the first dispatch on the request's record.

``retrying`` (the one loop around every HTTP provider's upstream requests, fallback chains
included) and the mock write ``RequestRecord.attempts`` and ``upstream_sent`` through
``current_record``: once per attempt, whatever the stream's length, and not at all outside a
server request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

from aichatflow.chat_stream import ChatStream
from aichatflow.config import Settings
from aichatflow.messages import ChatRequest
from aichatflow.providers.build import build_registry
from aichatflow.request_record import RequestRecord, current_record
from tests.support.upstream import FakeUpstream, Script, openai_stream, respond

FAST = {"kind": "mock", "tokens_per_second": 0, "first_token_ms": 0}
OVERLOADED = {"error": {"message": "The engine is overloaded", "type": "server_error"}}


@contextmanager
def recorded() -> Iterator[RequestRecord]:
    record = RequestRecord(
        "r1", "POST", "/api/chat", "127.0.0.1", asyncio.get_running_loop().time()
    )
    token = current_record.set(record)
    try:
        yield record
    finally:
        current_record.reset(token)


def _request(model: str, **fields: Any) -> ChatRequest:
    return ChatRequest.model_validate(
        {"model": model, "messages": [{"role": "user", "content": "hi"}], **fields}
    )


async def _drain(stream: ChatStream) -> int:
    batches = 0
    async for _ in stream.batches():
        batches += 1
    return batches


def _registry(providers: dict[str, dict[str, Any]], **settings: Any) -> Any:
    return build_registry(Settings(auto_detect=False, providers=providers, **settings))


async def test_an_http_retry_is_two_attempts_and_the_first_dispatch_is_kept(
    fake: FakeUpstream,
) -> None:
    fake.queue(
        Script(respond(503, OVERLOADED, retry_after="0")),
        Script(openai_stream(["Hello", " again", ", and", " again"])),
    )
    registry = _registry({"up": {**fake.openai_provider("m"), "max_retries": 1}})
    try:
        with recorded() as record:
            before = time.monotonic()
            batches = await _drain(registry.stream(_request("up/m")))
    finally:
        await registry.aclose()
    assert batches >= 2
    assert record.attempts == [("up/m", "upstream_overloaded"), ("up/m", "ok")]
    first = fake.requests[0].received_at
    assert record.upstream_sent is not None
    assert before <= record.upstream_sent <= first  # the first attempt's, not the retry's


async def test_a_fallback_chain_notes_each_deployment() -> None:
    registry = _registry(
        {"down": {**FAST, "error_after": 0, "error_code": "upstream_overloaded"}, "up": FAST},
        models={"safe": ["down/chat", "up/chat"]},
    )
    with recorded() as record:
        await _drain(registry.stream(_request("safe", max_tokens=30)))
    assert record.attempts == [("down/chat", "upstream_overloaded"), ("up/chat", "ok")]
    assert record.upstream_sent is not None


async def test_a_long_stream_is_one_attempt() -> None:
    registry = _registry({"mock": FAST})
    with recorded() as record:
        batches = await _drain(registry.stream(_request("mock/chat", max_tokens=200)))
    assert batches > 100
    assert record.attempts == [("mock/chat", "ok")]


async def test_a_failure_after_content_is_still_an_attempt_that_delivered() -> None:
    registry = _registry({"mock": {**FAST, "disconnect_after": 5}})
    with recorded() as record:
        try:
            await _drain(registry.stream(_request("mock/chat")))
        except Exception as exc:
            assert type(exc).__name__ == "UpstreamDisconnected"
    assert record.attempts == [("mock/chat", "ok")]


async def _first_batch_then_close(stream: ChatStream) -> None:
    batches: AsyncIterator[Any] = stream.batches()
    await anext(batches)
    await batches.aclose()  # type: ignore[attr-defined]


async def test_a_stream_closed_before_content_is_cancelled(fake: FakeUpstream) -> None:
    registry = _registry(
        {"slow": {**FAST, "first_token_ms": 5000}, "up": fake.openai_provider("m")}
    )
    fake.queue(Script(openai_stream(["a", "b"])))
    try:
        for model in ("slow/chat", "up/m"):
            with recorded() as record:
                await _first_batch_then_close(registry.stream(_request(model)))
            deployment = model
            assert record.attempts == [(deployment, "cancelled")], model
    finally:
        await registry.aclose()


async def test_outside_a_server_request_nothing_is_noted() -> None:
    registry = _registry({"mock": FAST})
    assert current_record.get() is None
    assert await _drain(registry.stream(_request("mock/chat", max_tokens=3))) > 0
