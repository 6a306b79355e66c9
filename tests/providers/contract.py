"""The shared provider contract's vocabulary: a ``ProviderCase`` (a provider factory, its
recorded upstream bytes and what they must give), the fixtures, a random re-chunker, and the
event grammar every provider owes the engine (``check_grammar``).

The contract tests themselves are in ``test_contract.py``, parametrised over every provider's
cases (``cases/``); provider test modules use these helpers for their own tests too.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aichatflow.events import ChatEvent, Finish, StreamError, StreamStart
from aichatflow.messages import ChatRequest
from aichatflow.providers.base import Provider
from aichatflow.transcript import Transcript

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
    content_in_first_half: bool = True
    """False when the fixture's first half ends before its first content: the stream cannot be
    closed after its first content there, so the close-mid-stream test leaves this case out."""


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
