"""One contract, every provider: feed a provider its own recorded upstream bytes,
re-chunked at random boundaries, and check what every provider owes the engine:

* the grammar: ``StreamStart`` first, exactly one terminal event, last;
* the same transcript whatever the chunking (a chunk boundary is never visible);
* closing the stream mid-way (``aclose`` after the first content) closes the upstream HTTP
  connection at once;
* HTTP error statuses map to the typed errors of ``aichatflow.errors``, Retry-After included;
* the faults of docs/reliability.md every family must survive: a drop mid-stream (T07), a silent
  upstream (T09, bytes-idle), an event over ``max_event_bytes`` (T13), and a 503 with
  ``Retry-After`` before any content, retried into a clean stream (T18).

A provider test module supplies a ``ProviderCase`` and calls the ``check_*`` functions (or uses
``contract_tests(case)``, which returns ready-made test functions).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from aichatflow.errors import (
    EventTooLarge,
    ProviderError,
    UpstreamAuth,
    UpstreamDisconnected,
    UpstreamOverloaded,
    UpstreamRateLimited,
    UpstreamTimeout,
)
from aichatflow.events import CONTENT_TYPES, ChatEvent, Finish, StreamError, StreamStart
from aichatflow.messages import ChatRequest
from aichatflow.providers.base import Provider
from aichatflow.transcript import Transcript, accumulate
from tests.support.upstream import FakeUpstream, Script, fin, headers, raw, respond, stall

FIXTURES = Path(__file__).parent.parent / "fixtures"


@dataclass
class ProviderCase:
    """How to build a provider pointed at a fake upstream, and what it should make of a fixture."""

    name: str
    make: Callable[..., Provider]
    """``make(url, **options)``: the provider for the fake upstream's base URL
    (``http://127.0.0.1:port``), ``max_retries`` 0 unless an option says otherwise."""
    fixture: bytes
    """The upstream's response body, byte for byte, as the real API sends it."""
    content_type: str
    expected: Callable[[Transcript], None]
    """Assertions on the transcript the fixture must give."""
    request: ChatRequest = field(
        default_factory=lambda: ChatRequest.model_validate(
            {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        )
    )
    error_bodies: dict[int, bytes] = field(default_factory=dict)
    """Optional per-status error bodies in the provider's own error format."""


def fixture(provider: str, name: str) -> bytes:
    return (FIXTURES / provider / name).read_bytes()


def rechunk(body: bytes, seed: int) -> list[bytes]:
    """Split ``body`` at random points (1 to 64 bytes apart, some single bytes)."""
    rng = random.Random(seed)
    pieces, i = [], 0
    while i < len(body):
        n = rng.choice([1, 1, 2, 3, 7, 16, 64])
        pieces.append(body[i : i + n])
        i += n
    return pieces


async def collect(provider: Provider, request: ChatRequest) -> list[ChatEvent]:
    events: list[ChatEvent] = []
    try:
        async for event in provider.stream(request):
            events.append(event)
    finally:
        await provider.aclose()
    return events


def check_grammar(events: list[ChatEvent]) -> None:
    assert events, "no events"
    assert isinstance(events[0], StreamStart), events[0]
    assert sum(isinstance(e, StreamStart) for e in events) == 1
    terminals = [i for i, e in enumerate(events) if isinstance(e, Finish | StreamError)]
    assert terminals == [len(events) - 1], f"terminal events at {terminals} of {len(events)}"


async def check_fixture(case: ProviderCase, fake: FakeUpstream, seed: int | None) -> None:
    """The fixture, whole or re-chunked, gives the expected transcript and a valid grammar."""
    pieces = [case.fixture] if seed is None else rechunk(case.fixture, seed)
    fake.default = Script([headers(200, content_type=case.content_type), *map(raw, pieces)])
    events = await collect(case.make(fake.url), case.request)
    check_grammar(events)
    case.expected(accumulate(events))


async def check_close_mid_stream(case: ProviderCase, fake: FakeUpstream) -> None:
    """Closing the stream after the first content closes the upstream connection at once."""
    first_half = case.fixture[: len(case.fixture) // 2]
    fake.default = Script([headers(200, content_type=case.content_type), raw(first_half), stall()])
    provider = case.make(fake.url)
    stream = provider.stream(case.request)
    try:
        async for event in stream:
            if isinstance(event, CONTENT_TYPES):
                break
        else:
            pytest.fail("the first half of the fixture held no content")
        closed = time.monotonic()
        await stream.aclose()
        rec = fake.requests[0]
        deadline = closed + 2.0
        while rec.peer_closed_at is None and time.monotonic() < deadline:
            await asyncio.sleep(0.005)  # the loop must run: transports close on its next turn
        peer = rec.peer_closed_at
        assert peer is not None, "the upstream connection stayed open after aclose()"
        assert peer - closed < 0.25
    finally:
        await provider.aclose()


_STATUS_ERRORS: dict[int, type[ProviderError]] = {
    401: UpstreamAuth,
    429: UpstreamRateLimited,
    503: UpstreamOverloaded,
}


async def check_error_status(case: ProviderCase, fake: FakeUpstream, status: int) -> None:
    """An HTTP error status raises its typed error (no retries: ``max_retries`` 0 in ``make``)."""
    body = case.error_bodies.get(status, b'{"error": {"message": "nope"}}')
    fake.default = Script(respond(status, body, retry_after="7"))
    provider = case.make(fake.url)
    with pytest.raises(_STATUS_ERRORS[status]) as info:
        await collect(provider, case.request)
    assert info.value.status_code == status
    if status == 429:
        assert info.value.retry_after == 7.0


async def check_drop_mid_stream(case: ProviderCase, fake: FakeUpstream) -> None:
    """T07: the connection drops mid-body (no terminator): a typed disconnect, never a hang
    or a silent clean end."""
    cut = len(case.fixture) // 2
    fake.default = Script(
        [headers(200, content_type=case.content_type), raw(case.fixture[:cut]), fin()]
    )
    with pytest.raises(UpstreamDisconnected):
        await asyncio.wait_for(collect(case.make(fake.url), case.request), 5)


async def check_silent_upstream(case: ProviderCase, fake: FakeUpstream) -> None:
    """T09: headers, then nothing: the bytes-idle timeout ends it, and the connection closes."""
    fake.default = Script([headers(200, content_type=case.content_type), stall()])
    t0 = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        await collect(case.make(fake.url, read_timeout=0.3), case.request)
    assert time.monotonic() - t0 < 2.0


async def check_event_too_large(case: ProviderCase, fake: FakeUpstream) -> None:
    """T13: one event over ``max_event_bytes`` is refused instead of buffered."""
    fake.default = Script([headers(200, content_type=case.content_type), raw(case.fixture)])
    with pytest.raises(EventTooLarge):
        await collect(case.make(fake.url, max_event_bytes=16), case.request)


async def check_retry_after_then_success(case: ProviderCase, fake: FakeUpstream) -> None:
    """T18: a 503 with ``Retry-After`` before any content is retried, after the delay, into
    one clean stream (one ``StreamStart``, the fixture's transcript)."""
    body = case.error_bodies.get(503, b'{"error": {"message": "busy"}}')
    fake.queue(Script(respond(503, body, retry_after="0.2")))
    fake.default = Script([headers(200, content_type=case.content_type), raw(case.fixture)])
    events = await collect(case.make(fake.url, max_retries=1), case.request)
    check_grammar(events)
    case.expected(accumulate(events))
    first, second = fake.requests[:2]
    assert fake.attempts == 2
    assert second.received_at - first.received_at >= 0.2


def contract_tests(case: ProviderCase) -> dict[str, Any]:
    """Test functions for a provider module: ``globals().update(contract_tests(CASE))``."""

    @pytest.mark.parametrize("seed", [None, 1, 2, 3, 4, 5])
    async def test_contract_fixture(fake: FakeUpstream, seed: int | None) -> None:
        await check_fixture(case, fake, seed)

    async def test_contract_close_mid_stream(fake: FakeUpstream) -> None:
        await check_close_mid_stream(case, fake)

    @pytest.mark.parametrize("status", sorted(_STATUS_ERRORS))
    async def test_contract_error_status(fake: FakeUpstream, status: int) -> None:
        await check_error_status(case, fake, status)

    async def test_contract_drop_mid_stream(fake: FakeUpstream) -> None:
        await check_drop_mid_stream(case, fake)

    async def test_contract_silent_upstream(fake: FakeUpstream) -> None:
        await check_silent_upstream(case, fake)

    async def test_contract_event_too_large(fake: FakeUpstream) -> None:
        await check_event_too_large(case, fake)

    async def test_contract_retry_after(fake: FakeUpstream) -> None:
        await check_retry_after_then_success(case, fake)

    return {
        "test_contract_drop_mid_stream": test_contract_drop_mid_stream,
        "test_contract_silent_upstream": test_contract_silent_upstream,
        "test_contract_event_too_large": test_contract_event_too_large,
        "test_contract_retry_after": test_contract_retry_after,
        "test_contract_fixture": test_contract_fixture,
        "test_contract_close_mid_stream": test_contract_close_mid_stream,
        "test_contract_error_status": test_contract_error_status,
    }
