"""The limits through real servers: RELIABILITY T23 with two instances on one Redis, the
headers and bodies clients see, and the ``openai`` SDK's own ``RateLimitError``."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import openai
import pytest

from aichatflow.config import ApiKey, key_digest
from aichatflow.server import create_app
from tests.conftest import make_settings
from tests.support.server import RunningServer, serve

PROVIDERS = {"mock": {"kind": "mock", "tokens_per_second": 20, "first_token_ms": 0}}


def _start(stack: ExitStack, keys: dict[str, ApiKey], **settings: Any) -> RunningServer:
    """A server whose ``[auth]`` holds ``keys`` (raw → key), so their limits are configured."""
    listed = [{**k.model_dump(), "sha256": key_digest(raw)} for raw, k in keys.items()]
    app = create_app(make_settings(providers=PROVIDERS, auth={"keys": listed}, **settings))
    server = stack.enter_context(serve(app))
    server.app = app  # type: ignore[attr-defined]
    return server


@pytest.fixture
def two_instances(redis_url: str) -> Iterator[tuple[str, list[RunningServer]]]:
    raw = "sk-e2e-" + uuid.uuid4().hex
    key = ApiKey(id="e2e-" + uuid.uuid4().hex[:12], sha256="0" * 64, max_streams=5)
    with ExitStack() as stack:
        servers = [_start(stack, {raw: key}, limits={"storage": redis_url}) for _ in range(2)]
        yield raw, servers


async def test_50_streams_on_one_key_over_two_instances_admit_exactly_5(
    two_instances: tuple[str, list[RunningServer]],
) -> None:
    raw, servers = two_instances
    body = {"model": "mock/chat", "messages": [{"role": "user", "content": "hi"}]}
    body["max_tokens"] = 10_000  # long enough to be open when every answer is in
    barrier = asyncio.Barrier(50)
    all_answered = asyncio.Event()
    statuses: list[int] = []
    refusals: list[httpx.Response] = []

    async def one(i: int, client: httpx.AsyncClient) -> None:
        url = servers[i % 2].url + "/api/chat"
        await barrier.wait()
        async with client.stream(
            "POST", url, json=body, headers={"authorization": f"Bearer {raw}"}
        ) as response:
            statuses.append(response.status_code)
            if response.status_code != 200:
                await response.aread()
                refusals.append(response)
            if len(statuses) == 50:
                all_answered.set()
            await asyncio.wait_for(all_answered.wait(), 20)  # hold the admitted streams open

    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(timeout=20, limits=limits) as client:
        await asyncio.gather(*(one(i, client) for i in range(50)))
    assert statuses.count(200) == 5
    assert statuses.count(429) == 45
    for response in refusals:
        assert response.headers["content-type"] == "application/json"
        assert response.headers["retry-after"] == "1"
        assert response.json()["error"]["code"] == "rate_limited"


async def test_openai_sdk_sees_rate_limit_error_when_rpm_is_used_up() -> None:
    raw = "sk-sdk-" + uuid.uuid4().hex
    keys = {raw: ApiKey(id="sdk", sha256="0" * 64, rpm=2, tpm=100_000)}
    with ExitStack() as stack:
        server = _start(stack, keys)
        client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key=raw, max_retries=0)
        try:
            messages: Any = [{"role": "user", "content": "hi"}]
            raw_response = await client.chat.completions.with_raw_response.create(
                model="mock/chat", messages=messages, max_tokens=3
            )
            assert raw_response.headers["x-ratelimit-limit-requests"] == "2"
            assert raw_response.headers["x-ratelimit-remaining-requests"] == "1"
            assert raw_response.headers["x-ratelimit-reset-requests"] == "1m0s"
            assert raw_response.headers["x-ratelimit-limit-tokens"] == "100000"
            raw_response.parse()
            stream = await client.chat.completions.create(
                model="mock/chat", messages=messages, max_tokens=3, stream=True
            )
            async for _ in stream:
                pass
            with pytest.raises(openai.RateLimitError) as refused:
                await client.chat.completions.create(
                    model="mock/chat", messages=messages, max_tokens=3, stream=True
                )
            headers = refused.value.response.headers
            assert headers["x-ratelimit-remaining-requests"] == "0"
            assert 55 <= int(headers["retry-after"]) <= 60
            assert refused.value.code == "rate_limited"
        finally:
            await client.close()


async def test_server_capacity_is_a_503_for_anyone() -> None:
    with ExitStack() as stack:
        server = _start(stack, {}, limits={"max_streams": 1})
        body = {"model": "mock/chat", "messages": [{"role": "user", "content": "hi"}]}
        async with httpx.AsyncClient(timeout=15) as client:
            async with client.stream(
                "POST", server.url + "/api/chat", json={**body, "max_tokens": 500}
            ) as first:
                assert first.status_code == 200
                second = await client.post(server.url + "/v1/chat/completions", json=body)
                assert second.status_code == 503
                assert second.json()["error"]["code"] == "over_capacity"
                assert second.headers["retry-after"] == "1"
            # The first stream's slot comes back once the server saw its client leave.
            limiter = server.app.gate.parts.limiter  # type: ignore[attr-defined]
            deadline = time.monotonic() + 3.0
            while limiter.streams() and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            third = await client.post(server.url + "/api/chat", json={**body, "max_tokens": 2})
            assert third.status_code == 200
