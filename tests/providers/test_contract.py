"""One contract, every provider: feed a provider its own recorded upstream bytes (``cases/``),
re-chunked at random boundaries, and check what every provider owes the engine:

* the grammar: ``StreamStart`` first, exactly one terminal event, last;
* the same transcript whatever the chunking (a chunk boundary is never visible);
* closing the stream mid-way (``aclose`` after the first content) closes the upstream HTTP
  connection at once;
* HTTP error statuses map to the typed errors of ``aichatflow.errors``, Retry-After included;
* the faults of docs/reliability.md every family must survive: a drop mid-stream (T07), a silent
  upstream (T09, bytes-idle), an event over ``max_event_bytes`` (T13), and a 503 with
  ``Retry-After`` before any content, retried into a clean stream (T18).

Every test is parametrised over every provider's cases; its id names the case
(``test_fixture_gives_its_transcript_whatever_the_chunking[gemini-thinking-seed3]``), so
``-k gemini`` runs one provider's contract.
"""

from __future__ import annotations

import asyncio
import time

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
from aichatflow.events import CONTENT_TYPES
from aichatflow.transcript import accumulate
from tests.support.upstream import FakeUpstream, Script, fin, headers, raw, respond, stall

from .cases import anthropic, gemini, ollama, openai
from .contract import ProviderCase, check_grammar, collect, rechunk

CASES = [*openai.CASES, *anthropic.CASES, *gemini.CASES, *ollama.CASES]
every_case = pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])

STATUS_ERRORS: dict[int, type[ProviderError]] = {
    401: UpstreamAuth,
    429: UpstreamRateLimited,
    503: UpstreamOverloaded,
}


@pytest.mark.parametrize("seed", [None, 1, 2, 3, 4, 5], ids=lambda s: f"seed{s}" if s else "whole")
@every_case
async def test_fixture_gives_its_transcript_whatever_the_chunking(
    case: ProviderCase, fake: FakeUpstream, seed: int | None
) -> None:
    """The fixture, whole or re-chunked, gives the expected transcript and a valid grammar."""
    pieces = [case.fixture] if seed is None else rechunk(case.fixture, seed)
    fake.default = Script([headers(200, content_type=case.content_type), *map(raw, pieces)])
    events = await collect(case.make(fake.url), case.request)
    check_grammar(events)
    case.expected(accumulate(events))


CLOSABLE = [c for c in CASES if c.content_in_first_half]


@pytest.mark.parametrize("case", CLOSABLE, ids=[c.name for c in CLOSABLE])
async def test_closing_mid_stream_closes_the_upstream_connection(
    case: ProviderCase, fake: FakeUpstream
) -> None:
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
        # At once, not when the upstream's stall (which never ends) would: milliseconds on a
        # quiet machine, 1 s leaves a busy one room. The 250 ms budget of a client leaving is
        # measured end to end in tests/upstream/test_disconnect.py.
        assert peer - closed < 1.0
    finally:
        await provider.aclose()


@pytest.mark.parametrize("status", sorted(STATUS_ERRORS))
@every_case
async def test_error_status_raises_its_typed_error(
    case: ProviderCase, fake: FakeUpstream, status: int
) -> None:
    """An HTTP error status raises its typed error (no retries: ``max_retries`` 0 in ``make``)."""
    body = case.error_bodies.get(status, b'{"error": {"message": "nope"}}')
    fake.default = Script(respond(status, body, retry_after="7"))
    provider = case.make(fake.url)
    with pytest.raises(STATUS_ERRORS[status]) as info:
        await collect(provider, case.request)
    assert info.value.status_code == status
    if status == 429:
        assert info.value.retry_after == 7.0


@every_case
async def test_drop_mid_stream_is_a_typed_disconnect(
    case: ProviderCase, fake: FakeUpstream
) -> None:
    """T07: the connection drops mid-body (no terminator): a typed disconnect, never a hang
    or a silent clean end."""
    cut = len(case.fixture) // 2
    fake.default = Script(
        [headers(200, content_type=case.content_type), raw(case.fixture[:cut]), fin()]
    )
    with pytest.raises(UpstreamDisconnected):
        await asyncio.wait_for(collect(case.make(fake.url), case.request), 5)


@every_case
async def test_silent_upstream_times_out(case: ProviderCase, fake: FakeUpstream) -> None:
    """T09: headers, then nothing: the bytes-idle timeout ends it, and the connection closes."""
    fake.default = Script([headers(200, content_type=case.content_type), stall()])
    t0 = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        await collect(case.make(fake.url, read_timeout=0.3), case.request)
    assert time.monotonic() - t0 < 2.0


@every_case
async def test_event_over_max_event_bytes_is_refused(
    case: ProviderCase, fake: FakeUpstream
) -> None:
    """T13: one event over ``max_event_bytes`` is refused instead of buffered."""
    fake.default = Script([headers(200, content_type=case.content_type), raw(case.fixture)])
    with pytest.raises(EventTooLarge):
        await collect(case.make(fake.url, max_event_bytes=16), case.request)


@every_case
async def test_503_with_retry_after_is_retried_into_one_clean_stream(
    case: ProviderCase, fake: FakeUpstream
) -> None:
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
