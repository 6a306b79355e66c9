"""The official ``openai`` SDK (and ``httpx-sse``) as real clients of a running aichatflow server.

Why real clients: the SDK is what users point at ``/v1``; if it cannot parse a chunk, map an
error status to its exception class, or see ``reasoning_content``, aichatflow is broken for
them no matter what our own decoder thinks. ``httpx-sse`` is an independent SSE parser for the
native ``/api/chat`` protocol. Every test talks to a real uvicorn on 127.0.0.1 (docs/testing.md).

The mock provider is deterministic (same request, same text), so the streamed deltas of a
request must add up to exactly the non-streamed content of the same request. With
``tokens_per_second = 0`` and ``burst = 1`` it hands over one token per batch, which the OpenAI
dialect renders as one chunk per token: chunk counts equal the token counts in ``usage``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai
import pytest
from httpx_sse import connect_sse
from openai import AsyncOpenAI, OpenAI, omit
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

from tests.support.server import RunningServer

StartServer = Callable[..., RunningServer]

FAST = {"kind": "mock", "tokens_per_second": 0, "first_token_ms": 0}
"""A mock that streams as fast as the reader reads: tests wait for nothing."""

PROVIDERS: dict[str, dict[str, Any]] = {
    "mock": FAST,
    # Fails with upstream_overloaded after 3 content tokens: a failure after the headers.
    "flaky": {**FAST, "error_after": 3, "error_code": "upstream_overloaded", "models": ["chat"]},
    # Fails before any content: a failure before the headers, so a real HTTP status.
    "down": {**FAST, "error_after": 0, "error_code": "upstream_overloaded", "models": ["chat"]},
}
ALIASES = {"fast": "mock/chat"}

PROMPT = "Count these four words"
PROMPT_TOKENS = 4
"""The mock counts prompt tokens as whitespace-led words: 4 for ``PROMPT``."""
MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": PROMPT}]
CLIENT_TIMEOUT = 15.0


@pytest.fixture
def server(start_server: StartServer) -> RunningServer:
    return start_server(providers=PROVIDERS, models=ALIASES, default_model="mock/chat")


@pytest.fixture
def client(server: RunningServer) -> Iterator[OpenAI]:
    """The sync SDK client; ``max_retries=0`` so error tests see the first response."""
    with OpenAI(
        base_url=server.url + "/v1", api_key="test", max_retries=0, timeout=CLIENT_TIMEOUT
    ) as c:
        yield c


def async_client(server: RunningServer) -> AsyncOpenAI:
    return AsyncOpenAI(
        base_url=server.url + "/v1", api_key="test", max_retries=0, timeout=CLIENT_TIMEOUT
    )


@dataclass
class Collected:
    """What a stream delivered, gathered chunk by chunk as a user of the SDK would."""

    text: str = ""
    reasoning: str = ""
    content_chunks: int = 0
    reasoning_chunks: int = 0
    finish_reasons: list[str] = field(default_factory=list)
    usage_chunks: list[ChatCompletionChunk] = field(default_factory=list)
    chunks: list[ChatCompletionChunk] = field(default_factory=list)

    def add(self, chunk: ChatCompletionChunk) -> None:
        self.chunks.append(chunk)
        if chunk.usage is not None:
            self.usage_chunks.append(chunk)
        for choice in chunk.choices:
            delta = choice.delta
            if delta.content:
                self.text += delta.content
                self.content_chunks += 1
            # Not a typed field of the SDK: it lives in pydantic's extras (docs/upstreams.md).
            reasoning = (delta.model_extra or {}).get("reasoning_content")
            assert getattr(delta, "reasoning_content", None) == reasoning
            if reasoning:
                self.reasoning += reasoning
                self.reasoning_chunks += 1
            if choice.finish_reason is not None:
                self.finish_reasons.append(choice.finish_reason)


def stream_sync(
    client: OpenAI,
    model: str = "mock/chat",
    *,
    include_usage: bool | None = None,
    max_tokens: int | None = None,
) -> Collected:
    """Stream one request with the sync SDK; ``None`` leaves a parameter out of the body."""
    got = Collected()
    with client.chat.completions.create(
        model=model,
        messages=MESSAGES,
        stream=True,
        stream_options=omit if include_usage is None else {"include_usage": include_usage},
        max_tokens=omit if max_tokens is None else max_tokens,
    ) as stream:
        for chunk in stream:
            got.add(chunk)
    return got


def check_chunk_envelope(got: Collected, model: str) -> None:
    """Every chunk carries the same id/created/model, and the first one announces the role."""
    assert got.chunks, "no chunks"
    first = got.chunks[0]
    assert first.id.startswith("chatcmpl-")
    assert first.object == "chat.completion.chunk"
    assert first.choices[0].delta.role == "assistant"
    assert {(c.id, c.created, c.model) for c in got.chunks} == {(first.id, first.created, model)}


# --- streaming ---------------------------------------------------------------------------------


def test_stream_deltas_add_up_to_the_non_stream_content(client: OpenAI) -> None:
    """Same request twice, streamed and not: the SDK sees the same text, reason and usage."""
    got = stream_sync(client, include_usage=True)
    whole = client.chat.completions.create(model="mock/chat", messages=MESSAGES)

    check_chunk_envelope(got, "mock/chat")
    assert got.text == whole.choices[0].message.content
    assert got.text.startswith(f"You asked: \u201c{PROMPT}\u201d.")
    assert got.content_chunks > 10
    assert got.finish_reasons == ["stop"]
    assert got.reasoning == ""

    # include_usage: exactly one extra chunk, after the finishing one, with no choices.
    assert len(got.usage_chunks) == 1
    usage_chunk = got.usage_chunks[0]
    assert usage_chunk is got.chunks[-1]
    assert usage_chunk.choices == []
    usage = usage_chunk.usage
    assert usage is not None
    assert usage.prompt_tokens == PROMPT_TOKENS
    assert usage.completion_tokens == got.content_chunks
    assert usage.total_tokens == PROMPT_TOKENS + got.content_chunks
    assert whole.usage == usage


def test_stream_without_include_usage_has_no_usage(client: OpenAI) -> None:
    """OpenAI sends usage in a stream only when asked; so must we (docs/upstreams.md, OpenAI)."""
    got = stream_sync(client)
    assert got.usage_chunks == []
    assert all(c.choices for c in got.chunks)
    assert got.finish_reasons == ["stop"]
    assert got.chunks[-1].choices[0].finish_reason == "stop"
    assert got.text == stream_sync(client, include_usage=True).text
    assert stream_sync(client, include_usage=False).usage_chunks == []


def test_stream_max_tokens_finishes_with_length(client: OpenAI) -> None:
    got = stream_sync(client, max_tokens=5, include_usage=True)
    assert got.content_chunks == 5
    assert got.finish_reasons == ["length"]
    assert got.usage_chunks[0].usage is not None
    assert got.usage_chunks[0].usage.completion_tokens == 5


async def test_async_stream_matches_sync_non_stream(server: RunningServer, client: OpenAI) -> None:
    """``AsyncOpenAI`` has its own stream reader (``AsyncStream``): check it on its own."""
    whole = client.chat.completions.create(model="fast", messages=MESSAGES)
    got = Collected()
    async with async_client(server) as aclient:
        stream = await aclient.chat.completions.create(
            model="fast",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        async with stream:
            async for chunk in stream:
                got.add(chunk)
    check_chunk_envelope(got, "fast")
    assert got.text == whole.choices[0].message.content
    assert got.finish_reasons == ["stop"]
    assert len(got.usage_chunks) == 1
    assert got.usage_chunks[0].usage == whole.usage


# --- non-streaming -----------------------------------------------------------------------------


def test_non_stream_completion(client: OpenAI) -> None:
    completion = client.chat.completions.create(model="mock/chat", messages=MESSAGES)
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "mock/chat"
    assert len(completion.choices) == 1
    choice = completion.choices[0]
    assert choice.index == 0
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    content = choice.message.content
    assert content is not None
    assert content.startswith(f"You asked: \u201c{PROMPT}\u201d. This answer comes from")
    assert content.endswith("to talk to a real model.")
    assert choice.message.tool_calls is None
    usage = completion.usage
    assert usage is not None
    assert usage.prompt_tokens == PROMPT_TOKENS
    assert usage.completion_tokens == len(stream_sync(client).chunks) - 2  # minus role, finish
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 0


async def test_async_non_stream_completion(server: RunningServer, client: OpenAI) -> None:
    async with async_client(server) as aclient:
        completion = await aclient.chat.completions.create(
            model="mock/chat",
            messages=MESSAGES,
        )
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.content == stream_sync(client).text


# --- models ------------------------------------------------------------------------------------


def test_models_list(client: OpenAI) -> None:
    models = client.models.list()
    ids = [m.id for m in models]
    assert len(ids) == len(set(ids))
    assert set(ids) == {
        "mock/chat",
        "mock/reasoner",
        "mock/echo",
        "mock/markdown",
        "flaky/chat",
        "down/chat",
        "fast",
    }
    owners = {m.id: m.owned_by for m in models}
    assert owners["mock/reasoner"] == "mock"
    assert owners["flaky/chat"] == "flaky"
    assert owners["fast"] == "mock"
    assert all(m.object == "model" for m in models)


async def test_async_models_list(server: RunningServer) -> None:
    async with async_client(server) as aclient:
        ids = [m.id async for m in aclient.models.list()]
    assert "mock/reasoner" in ids
    assert "fast" in ids


# --- reasoning ---------------------------------------------------------------------------------


def test_reasoner_stream_exposes_reasoning_content(client: OpenAI) -> None:
    """``delta.reasoning_content`` is unknown to the SDK's types but reaches the user intact."""
    got = stream_sync(client, model="mock/reasoner", include_usage=True)
    whole = client.chat.completions.create(model="mock/reasoner", messages=MESSAGES)
    message = whole.choices[0].message

    assert got.reasoning.startswith(f"The user wrote \u201c{PROMPT}\u201d.")
    assert got.reasoning == (message.model_extra or {}).get("reasoning_content")
    assert got.text == message.content
    assert got.text.startswith("You asked:")
    # Reasoning comes first, and no chunk carries both (DeepSeek's order, docs/upstreams.md).
    kinds = [
        "r" if (c.choices[0].delta.model_extra or {}).get("reasoning_content") else "t"
        for c in got.chunks
        if c.choices and (c.choices[0].delta.content or (c.choices[0].delta.model_extra or {}))
    ]
    assert kinds == ["r"] * got.reasoning_chunks + ["t"] * got.content_chunks
    assert got.finish_reasons == ["stop"]
    usage = got.usage_chunks[0].usage
    assert usage is not None
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == got.reasoning_chunks
    assert usage.completion_tokens == got.reasoning_chunks + got.content_chunks
    assert whole.usage == usage


async def test_async_reasoner_stream(server: RunningServer) -> None:
    reasoning, text = "", ""
    async with async_client(server) as aclient:
        stream = await aclient.chat.completions.create(
            model="mock/reasoner",
            messages=MESSAGES,
            stream=True,
        )
        async for chunk in stream:
            delta = chunk.choices[0].delta
            reasoning += getattr(delta, "reasoning_content", None) or ""
            text += delta.content or ""
    assert reasoning.startswith("The user wrote")
    assert text.startswith("You asked:")


# --- errors ------------------------------------------------------------------------------------


def test_unknown_model_is_not_found(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="nope/model", messages=MESSAGES)
    exc = info.value
    assert exc.status_code == 404
    assert exc.code == "unknown_model"
    assert "nope/model" in exc.message
    assert exc.response.headers["x-should-retry"] == "false"


def test_unknown_model_is_not_found_when_streaming(client: OpenAI) -> None:
    """The model is resolved before any header, so a stream request gets a real 404 too."""
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope/model", messages=MESSAGES, stream=True)


def test_empty_messages_is_unprocessable(client: OpenAI) -> None:
    with pytest.raises(openai.UnprocessableEntityError) as info:
        client.chat.completions.create(model="mock/chat", messages=[])
    exc = info.value
    assert exc.status_code == 422
    assert exc.code == "validation_failed"
    assert "messages" in exc.message
    assert isinstance(exc.body, dict)
    assert exc.body["details"][0]["loc"] == ["messages"]


def test_invalid_temperature_is_unprocessable(client: OpenAI) -> None:
    with pytest.raises(openai.UnprocessableEntityError) as info:
        client.chat.completions.create(model="mock/chat", messages=MESSAGES, temperature=7)
    assert "temperature" in info.value.message


def test_error_mid_stream_raises_api_error(client: OpenAI) -> None:
    """After 3 content chunks the SDK raises ``APIError`` (not a status error: it was a 200)."""
    got = Collected()
    with (
        pytest.raises(openai.APIError) as info,
        client.chat.completions.create(model="flaky/chat", messages=MESSAGES, stream=True) as s,
    ):
        assert s.response.status_code == 200
        for chunk in s:
            got.add(chunk)
    exc = info.value
    assert not isinstance(exc, openai.APIStatusError)
    assert got.content_chunks == 3
    assert got.finish_reasons == []
    assert str(exc) == "flaky: injected failure"  # worded as in the native error frame
    assert exc.code == "upstream_overloaded"
    assert exc.type == "upstream_overloaded"


def test_error_mid_stream_sends_no_done(server: RunningServer) -> None:
    """The same failure on the wire: one ``data: {"error": ...}`` event last, no ``[DONE]``.

    The SDK stops reading at the error, so whether ``[DONE]`` followed is checked on raw bytes.
    """
    body = {"model": "flaky/chat", "messages": MESSAGES, "stream": True}
    with httpx.Client(timeout=CLIENT_TIMEOUT) as http:
        resp = http.post(server.url + "/v1/chat/completions", json=body)
    assert resp.status_code == 200
    assert b"[DONE]" not in resp.content
    events = resp.content.decode().split("\n\n")
    assert events[-1] == ""
    assert events[-2].startswith('data: {"error":{')
    assert "upstream_overloaded" in events[-2]
    assert sum('"content":"' in e and '"content":""' not in e for e in events) == 3


async def test_async_error_mid_stream_raises_api_error(server: RunningServer) -> None:
    text = ""
    async with async_client(server) as aclient:
        stream = await aclient.chat.completions.create(
            model="flaky/chat",
            messages=MESSAGES,
            stream=True,
        )
        with pytest.raises(openai.APIError) as info:
            async for chunk in stream:
                text += chunk.choices[0].delta.content or ""
    assert not isinstance(info.value, openai.APIStatusError)
    assert info.value.code == "upstream_overloaded"
    assert str(info.value) == "flaky: injected failure"
    assert len(text.split()) == 3


def test_failure_before_content_is_an_http_status(client: OpenAI) -> None:
    """Non-stream, failing before any content: a real 503 that tells the SDK not to retry."""
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="down/chat", messages=MESSAGES)
    exc = info.value
    assert exc.status_code == 503
    assert exc.response.headers["x-should-retry"] == "false"
    assert exc.code == "upstream_overloaded"
    assert exc.message == "Error code: 503 - down: injected failure"


async def test_async_failure_before_content_is_an_http_status(server: RunningServer) -> None:
    async with async_client(server) as aclient:
        with pytest.raises(openai.APIStatusError) as info:
            await aclient.chat.completions.create(
                model="down/chat",
                messages=MESSAGES,
            )
    assert info.value.status_code == 503
    assert info.value.response.headers["x-should-retry"] == "false"


def test_default_sdk_retries_are_switched_off_by_the_server(server: RunningServer) -> None:
    """With the SDK's default ``max_retries`` the 503 still reaches the caller after one try:
    ``x-should-retry: false`` stops the SDK from adding a second retry layer on top of ours."""
    with OpenAI(base_url=server.url + "/v1", api_key="test", timeout=CLIENT_TIMEOUT) as c:
        assert c.max_retries == 2
        with pytest.raises(openai.APIStatusError) as info:
            c.chat.completions.create(model="down/chat", messages=MESSAGES)
    assert info.value.status_code == 503
    # The SDK numbers its attempts in this header; "0" means the failed request was the first.
    assert info.value.response.request.headers["x-stainless-retry-count"] == "0"


# --- native /api/chat through httpx-sse -------------------------------------------------------


def native_events(server: RunningServer, model: str) -> tuple[httpx.Headers, list[Any]]:
    body = {"model": model, "messages": MESSAGES}
    with (
        httpx.Client(timeout=CLIENT_TIMEOUT) as http,
        connect_sse(http, "POST", server.url + "/api/chat", json=body) as source,
    ):
        source.response.raise_for_status()
        return source.response.headers, list(source.iter_sse())


def split_ids(events: list[Any]) -> tuple[set[str], list[int]]:
    """``<stream_id>.<seq>`` ids → (the stream ids seen, the sequence numbers in order)."""
    parts = [e.id.rpartition(".") for e in events]
    assert all(dot == "." and seq.isdigit() for _, dot, seq in parts), [e.id for e in events]
    return {sid for sid, _, _ in parts}, [int(seq) for _, _, seq in parts]


def test_native_stream_frames_parse_with_httpx_sse(client: OpenAI, server: RunningServer) -> None:
    headers, events = native_events(server, "mock/chat")
    assert headers["content-type"].startswith("text/event-stream")
    assert headers["cache-control"] == "no-cache"
    sid = headers["x-request-id"]

    first = events[0]
    assert first.event == "start"
    assert first.retry == 2000
    assert first.id == f"{sid}.0"
    assert first.json() == {"stream_id": sid, "model": "mock/chat", "deployment": "mock/chat"}
    assert all(e.retry is None for e in events[1:])

    sids, seqs = split_ids(events)
    assert sids == {sid}
    # positions of events: the upstream's own start is position 1 (it makes no frame), then
    # one frame per event here
    assert seqs == [0, *range(2, len(events) + 1)]

    names = [e.event for e in events]
    assert names[-1] == "done"
    assert set(names[1:-1]) == {"text"}
    assert len(names) - 2 >= 2
    text = "".join(e.json()["text"] for e in events if e.event == "text")
    # The same mock behind both endpoints: the same words.
    assert (
        text
        == client.chat.completions.create(model="mock/chat", messages=MESSAGES)
        .choices[0]
        .message.content
    )
    done = events[-1].json()
    assert done["finish_reason"] == "stop"
    assert done["usage"]["input_tokens"] == PROMPT_TOKENS
    assert done["usage"]["output_tokens"] == len(names) - 2


def test_native_reasoning_frames(server: RunningServer) -> None:
    _, events = native_events(server, "mock/reasoner")
    names = [e.event for e in events]
    assert names[0] == "start"
    assert names[-1] == "done"
    first_text = names.index("text")
    assert set(names[1:first_text]) == {"reasoning"}
    assert set(names[first_text:-1]) == {"text"}
    _, seqs = split_ids(events)
    assert seqs == [0, *range(2, len(events) + 1)]
    reasoning = "".join(e.json()["text"] for e in events if e.event == "reasoning")
    assert reasoning.startswith("The user wrote")
    assert events[-1].json()["usage"]["reasoning_tokens"] == first_text - 1


def test_native_error_frame_ends_the_stream(server: RunningServer) -> None:
    headers, events = native_events(server, "flaky/chat")
    sid = headers["x-request-id"]
    names = [e.event for e in events]
    assert names == ["start", "text", "text", "text", "error"]
    _, seqs = split_ids(events)
    assert seqs == [0, 2, 3, 4, 5]
    assert events[-1].json() == {
        "code": "upstream_overloaded",
        "message": "flaky: injected failure",
        "retryable": True,
        "retry_after": None,
        "request_id": sid,
    }
