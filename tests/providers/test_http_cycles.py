"""A failed upstream connection leaves nothing for the garbage collector.

``serve`` runs full collections rarely (``server/runner.py``, ``tune_gc``), so whatever a request
leaves in a reference cycle stays for long. aiohttp's connection errors come with one
(aiohappyeyeballs keeps the exception in its own frame, which the exception's traceback holds):
70-80 objects per attempt while an upstream was unreachable, growing with every retry.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

import orjson
import pytest

from aichatflow.errors import ProviderError, UpstreamDisconnected
from aichatflow.messages import ChatRequest
from aichatflow.providers import create_provider
from tests.support.processes import free_port
from tests.support.upstream import Action, Chunks, FakeUpstream, Script, event, headers, raw


@contextmanager
def exceptions_left_in_cycles() -> Iterator[list[str]]:
    """The names of the exceptions the block left in reference cycles (filled at its end).

    A collection with ``DEBUG_SAVEALL`` keeps what it finds in ``gc.garbage`` to look at."""
    left: list[str] = []
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield left
        gc.collect()
        left += [type(o).__name__ for o in gc.garbage if isinstance(o, BaseException)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


async def test_an_unreachable_upstream_leaves_no_reference_cycles() -> None:
    port = free_port()  # nothing listens there: every connection is refused
    provider = create_provider(
        "down",
        {
            "kind": "openai-compatible",
            "base_url": f"http://127.0.0.1:{port}/v1",
            "max_retries": 0,
            "api_key": "sk-test",
        },
    )
    request = ChatRequest.model_validate(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    )
    try:
        with exceptions_left_in_cycles() as left:
            for _ in range(5):
                with pytest.raises(ProviderError):
                    async for _event in provider.stream(request):
                        pass
    finally:
        await provider.aclose()
    assert left == []


def _chunk(text: str, finish: str | None = None) -> bytes:
    candidate: dict[str, object] = {"content": {"parts": [{"text": text}]}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return b"data: " + orjson.dumps({"candidates": [candidate]}) + b"\r\n\r\n"


_LOST_BODIES: dict[str, tuple[Action, bool]] = {
    # kind: (a body the script's end cuts by a FIN before the chunked terminator, and whether
    # the answer is complete all the same)
    "openai-compatible": (event(Chunks().content("Hel")), False),
    "ollama": (raw(b'{"message": {"content": "Hel"}, "done": false}\n'), False),
    "anthropic": (raw(b'event: ping\ndata: {"type": "ping"}\n\n'), False),
    "gemini": (raw(_chunk("Hel", finish="STOP")), True),
}


@pytest.mark.parametrize("kind", list(_LOST_BODIES))
async def test_a_connection_lost_mid_body_leaves_no_reference_cycles(
    fake: FakeUpstream, kind: str
) -> None:
    """A body cut by a FIN before its chunked terminator: the ``UpstreamDisconnected`` the read
    loop keeps while it lets the decoder and the parser finish must not stay reachable from the
    frames its traceback holds (for Gemini, whose answer completes, it is never raised)."""
    body, completes = _LOST_BODIES[kind]
    fake.default = Script([headers(200), body])
    base = fake.url + ("/v1" if kind == "openai-compatible" else "")
    options = {"kind": kind, "base_url": base, "max_retries": 0, "api_key": "sk-test"}
    provider = create_provider("lost", options)
    request = ChatRequest.model_validate(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    )
    try:
        with exceptions_left_in_cycles() as left:
            for _ in range(3):
                try:
                    async for _event in provider.stream(request):
                        pass
                    finished = True
                except UpstreamDisconnected:
                    finished = False
                assert finished is completes
    finally:
        await provider.aclose()
    assert left == []
