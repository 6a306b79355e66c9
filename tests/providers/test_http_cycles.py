"""A failed upstream connection leaves nothing for the garbage collector.

``serve`` runs full collections rarely (``server/runner.py``, ``tune_gc``), so whatever a request
leaves in a reference cycle stays for long. aiohttp's connection errors come with one
(aiohappyeyeballs keeps the exception in its own frame, which the exception's traceback holds):
70-80 objects per attempt while an upstream was unreachable, growing with every retry.
"""

from __future__ import annotations

import gc

import pytest

from aichatflow.errors import ProviderError
from aichatflow.messages import ChatRequest
from aichatflow.providers import create_provider
from tests.support.processes import free_port


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
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what a collection finds is kept in gc.garbage to look at
    try:
        for _ in range(5):
            with pytest.raises(ProviderError):
                async for _event in provider.stream(request):
                    pass
        gc.collect()
        left = [type(o).__name__ for o in gc.garbage if isinstance(o, BaseException)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        await provider.aclose()
    assert left == []
