"""aichatflow's ``litellm`` provider against a real LiteLLM proxy (docs/testing.md, LiteLLM).

Why: our own fakes agree with our own parser by construction. LiteLLM's bytes differ from
OpenAI's in ways that matter (the first chunk carries both ``role`` and content, chunks have no
``finish_reason: null``, its usage chunk has ``choices: [{"delta": {}}]`` instead of ``[]``, and
its 429 body says ``"type": "throttling_error", "code": "429"``), so these tests check that what
LiteLLM sends arrives at aichatflow's clients whole, once, in order, with the right error codes.

The usage and 429 tests first check what LiteLLM itself answers to the same request (fixtures
``litellm_usage`` and ``litellm_429``), so a failure says whether LiteLLM changed or aichatflow did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import orjson
import pytest
from httpx_sse import ServerSentEvent, connect_sse
from openai import OpenAI
from openai.types.chat import ChatCompletionMessageParam

from tests.peers.conftest import MOCK_TEXT, LiteLLMProxy
from tests.support.server import RunningServer

pytestmark = pytest.mark.peer

StartServer = Callable[..., RunningServer]
MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hello"}]
TIMEOUT = 30.0


@pytest.fixture
def server(start_server: StartServer, litellm_proxy: LiteLLMProxy) -> RunningServer:
    """aichatflow with LiteLLM as the ``litellm`` provider (aichatflow's default retries)."""
    return start_server(
        providers={
            "litellm": {
                "kind": "litellm",
                "base_url": f"{litellm_proxy.url}/v1",
                "api_key": litellm_proxy.master_key,
            }
        },
        default_model="litellm/mock-gpt",
    )


@pytest.fixture
def client(server: RunningServer) -> Iterator[OpenAI]:
    with OpenAI(base_url=server.url + "/v1", api_key="test", max_retries=0, timeout=TIMEOUT) as c:
        yield c


def litellm_direct(proxy: LiteLLMProxy, model: str, **body: Any) -> httpx.Response:
    """One request straight to LiteLLM, to pin down what it sends."""
    with httpx.Client(timeout=TIMEOUT, trust_env=False) as http:
        return http.post(
            f"{proxy.url}/v1/chat/completions",
            headers={"authorization": f"Bearer {proxy.master_key}"},
            json={"model": model, "messages": MESSAGES, **body},
        )


def litellm_stream_chunks(proxy: LiteLLMProxy) -> list[str]:
    """LiteLLM's own ``data:`` payloads for a streamed ``mock-gpt`` request with usage."""
    resp = litellm_direct(proxy, "mock-gpt", stream=True, stream_options={"include_usage": True})
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/event-stream")
    return [
        line.removeprefix("data: ") for line in resp.text.splitlines() if line.startswith("data: ")
    ]


@pytest.fixture
def litellm_usage(litellm_proxy: LiteLLMProxy) -> dict[str, int]:
    """The usage LiteLLM reports for the streamed request, checked against its known shape."""
    payloads = litellm_stream_chunks(litellm_proxy)
    assert payloads[-1] == "[DONE]"
    chunks = [orjson.loads(p) for p in payloads[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == MOCK_TEXT
    # The mock streams 3-character pieces; the first chunk carries role and content together.
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": MOCK_TEXT[:3]}
    with_usage = [c for c in chunks if c.get("usage")]
    assert len(with_usage) == 1
    assert with_usage[0] is chunks[-1]
    usage: dict[str, int] = with_usage[0]["usage"]
    assert usage["completion_tokens"] > 0
    assert usage["prompt_tokens"] > 0
    return usage


def native_events(server: RunningServer, model: str) -> tuple[httpx.Headers, list[ServerSentEvent]]:
    body = {"model": model, "messages": MESSAGES}
    with (
        httpx.Client(timeout=TIMEOUT, trust_env=False) as http,
        connect_sse(http, "POST", server.url + "/api/chat", json=body) as source,
    ):
        assert source.response.status_code == 200
        return source.response.headers, list(source.iter_sse())


# --- (a) native /api/chat ----------------------------------------------------------------------


def test_native_stream_carries_litellm_text_exactly(
    server: RunningServer, litellm_usage: dict[str, int]
) -> None:
    headers, events = native_events(server, "litellm/mock-gpt")
    names = [e.event for e in events]
    assert names[0] == "start"
    assert events[0].json()["model"] == "litellm/mock-gpt"
    assert names[-1] == "done"
    # Usage arrives as its own frame (from LiteLLM's usage chunk), just before done.
    assert names[-2] == "usage"
    assert set(names[1:-2]) == {"text"}
    texts = [e.json()["text"] for e in events if e.event == "text"]
    assert "".join(texts) == MOCK_TEXT  # exactly once, in order, nothing added or lost

    sid = headers["x-request-id"]
    # ids are event positions (events that make no frame count too): strictly increasing
    positions = [int(e.id.rpartition(".")[2]) for e in events]
    assert all(e.id.rpartition(".")[0] == sid for e in events)
    assert positions[0] == 0 and positions == sorted(set(positions))

    done = events[-1].json()
    assert done["finish_reason"] == "stop"
    assert done["usage"] == {
        "input_tokens": litellm_usage["prompt_tokens"],
        "output_tokens": litellm_usage["completion_tokens"],
        "reasoning_tokens": 0,
        "cached_input_tokens": 0,
    }
    assert events[-2].json() == done["usage"]


def test_native_stream_is_not_buffered(server: RunningServer) -> None:
    """LiteLLM writes 19 pieces a few ms apart; they must not reach the client as one frame.

    Native frames merge only what piled up in one upstream read, so one frame for the whole
    answer means aichatflow waited for the end of the upstream body before forwarding anything.
    This caught ``aiter_raw(65536)`` in ``providers/_http.py``: httpx's ByteChunker held bytes
    back until 64 KiB or the end of the body (fixed in 32e4583 by reading with no chunk size).
    """
    _, events = native_events(server, "litellm/mock-gpt")
    texts = [e.json()["text"] for e in events if e.event == "text"]
    assert "".join(texts) == MOCK_TEXT
    assert len(texts) >= 2, f"the whole answer came in {len(texts)} text frame(s)"


# --- (b) the openai SDK through aichatflow's /v1 -----------------------------------------------


def test_openai_sdk_stream_through_aichatflow(
    client: OpenAI, litellm_usage: dict[str, int]
) -> None:
    text, reasons, usages, models = "", [], [], set()
    with client.chat.completions.create(
        model="litellm/mock-gpt",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    ) as stream:
        for chunk in stream:
            models.add(chunk.model)
            if chunk.usage is not None:
                usages.append(chunk.usage)
            for choice in chunk.choices:
                text += choice.delta.content or ""
                if choice.finish_reason is not None:
                    reasons.append(choice.finish_reason)
    assert text == MOCK_TEXT
    assert reasons == ["stop"]
    assert models == {"litellm/mock-gpt"}
    assert len(usages) == 1
    assert usages[0].prompt_tokens == litellm_usage["prompt_tokens"]
    assert usages[0].completion_tokens == litellm_usage["completion_tokens"]
    assert usages[0].total_tokens == litellm_usage["total_tokens"]


def test_openai_sdk_non_stream_through_aichatflow(client: OpenAI) -> None:
    """aichatflow always streams from the upstream and folds it into one completion."""
    completion = client.chat.completions.create(model="litellm/mock-gpt", messages=MESSAGES)
    assert completion.choices[0].message.content == MOCK_TEXT
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.completion_tokens > 0


# --- (c) LiteLLM's 429 -------------------------------------------------------------------------


@pytest.fixture
def litellm_429(litellm_proxy: LiteLLMProxy) -> dict[str, Any]:
    """What LiteLLM itself sends for ``mock-429``: a plain HTTP 429 before any stream."""
    resp = litellm_direct(litellm_proxy, "mock-429", stream=True)
    assert resp.status_code == 429
    assert resp.headers["content-type"] == "application/json"
    assert "retry-after" not in resp.headers
    error: dict[str, Any] = resp.json()["error"]
    assert error["type"] == "throttling_error"
    assert error["code"] == "429"
    assert error["message"].startswith("litellm.RateLimitError: this is a mock rate limit error")
    return error


def test_native_429_is_an_upstream_rate_limited_frame(
    server: RunningServer, litellm_429: dict[str, Any]
) -> None:
    """/api/chat sends its headers at once, so the 429 (after aichatflow's own retries)
    arrives in-band: ``start`` then one terminal ``error`` frame, nothing else."""
    headers, events = native_events(server, "litellm/mock-429")
    assert [e.event for e in events] == ["start", "error"]
    error = events[-1].json()
    assert error["code"] == "upstream_rate_limited"
    assert error["retryable"] is True
    assert error["request_id"] == headers["x-request-id"]
    assert error["message"].startswith("litellm: litellm.RateLimitError: this is a mock rate")
    assert "sk-" not in error["message"]


def test_v1_non_stream_429_is_http_429(client: OpenAI, litellm_429: dict[str, Any]) -> None:
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="litellm/mock-429", messages=MESSAGES)
    exc = info.value
    assert exc.status_code == 429
    assert exc.code == "upstream_rate_limited"
    assert exc.type == "upstream_rate_limited"
    assert "this is a mock rate limit error" in exc.message
    assert exc.response.headers["x-should-retry"] == "false"


def test_v1_stream_429_is_http_429(client: OpenAI, litellm_429: dict[str, Any]) -> None:
    """``/v1`` streams hold their headers until the upstream answers: still a real 429."""
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(
            model="litellm/mock-429",
            messages=MESSAGES,
            stream=True,
        )
    assert info.value.code == "upstream_rate_limited"
    assert info.value.response.headers["x-should-retry"] == "false"
