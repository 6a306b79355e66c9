"""The mock provider: the same answer every time, ``max_tokens`` honoured, paced with about one
sleep per token."""

from __future__ import annotations

import asyncio

import pytest

from aichatflow import ChatRequest, MockProvider, ReasoningDelta, TextDelta, accumulate


async def test_mock_is_deterministic_and_honours_max_tokens() -> None:
    mock = MockProvider("mock", {"tokens_per_second": 0, "first_token_ms": 0})
    request = ChatRequest.model_validate(
        {"model": "reasoner", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 37}
    )
    first = [e async for e in mock.stream(request)]
    second = [e async for e in mock.stream(request)]
    assert first == second
    assert sum(isinstance(e, TextDelta) for e in first) == 37
    assert any(isinstance(e, ReasoningDelta) for e in first)
    transcript = accumulate(first)
    assert transcript.finish_reason == "length"
    assert transcript.usage is not None and transcript.usage.output_tokens >= 37


def test_mock_pacing_sleeps_about_once_per_token_under_uvloop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """uvloop's timers fire up to 1 ms early: without slack the mock slept ~15 times a token."""
    uvloop = pytest.importorskip("uvloop")

    sleeps = 0
    real_sleep = asyncio.sleep

    async def counting_sleep(delay: float) -> None:
        nonlocal sleeps
        sleeps += 1
        await real_sleep(delay)

    monkeypatch.setattr(asyncio, "sleep", counting_sleep)
    mock = MockProvider("mock", {"tokens_per_second": 200, "first_token_ms": 0})
    request = ChatRequest.model_validate(
        {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 40}
    )

    async def deltas() -> int:
        return len([e async for e in mock.stream(request) if isinstance(e, TextDelta)])

    assert uvloop.run(deltas()) == 40
    assert sleeps <= 60, f"{sleeps} sleeps for 40 paced tokens"
