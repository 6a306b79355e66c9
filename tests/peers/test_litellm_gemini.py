"""aichatflow's ``gemini`` provider against LiteLLM's Gemini-format ``:streamGenerateContent``.

Why: the provider's fixtures and fakes are bytes we chose. LiteLLM's ``/v1beta/models/...``
endpoint is a Gemini-format server nobody here wrote: it parses our request body
(``systemInstruction``, ``functionCall`` with ``thoughtSignature``, ``functionResponse``,
``generationConfig.thinkingConfig``) and streams its own ``GenerateContentResponse`` events, with
quirks of its own (``"finishReason": null`` on every chunk but the last, a last chunk with no
parts, usage only at the end, and a mid-stream failure written as an OpenAI-shaped
``data: {"error": {..., "code": "500"}}``). The chain is ``GeminiProvider → LiteLLM v1beta →
hosted_vllm → aichatflow mock /v1`` and the oracle is the same mock run in-process
(``tests/peers/_litellm_translator.py``).

The first test pins what LiteLLM itself sends, so a failure says whether LiteLLM changed or
aichatflow did. LiteLLM does not translate the mock's ``reasoning_content`` into ``thought``
parts (measured with 1.108.7: the reasoner's answer arrives as text only), so reasoning is
covered by the fixtures in ``tests/providers/test_gemini.py``, not here.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import pytest

from aichatflow.errors import ProviderError
from aichatflow.events import ChatEvent, TextDelta
from aichatflow.messages import ChatRequest
from aichatflow.providers.gemini import GeminiProvider
from aichatflow.providers.mock import tokenize
from aichatflow.sse import SSEDecoder
from aichatflow.transcript import accumulate
from tests.peers._litellm_translator import (
    TIMEOUT,
    USER,
    Translator,
    answer_tokens,
    expected,
    litellm_translator,
    provider_options,
    stream,
)
from tests.providers.contract import check_grammar

pytestmark = pytest.mark.peer


@pytest.fixture(scope="module")
def translator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Translator]:
    with litellm_translator(tmp_path_factory.mktemp("litellm-gemini")) as running:
        yield running


@pytest.fixture
async def gemini(translator: Translator) -> AsyncIterator[GeminiProvider]:
    """Our provider pointed at LiteLLM, with its defaults (thought summaries requested)."""
    options = provider_options(translator)
    provider = GeminiProvider("gem", options)
    yield provider
    await provider.aclose()


def test_litellm_streams_gemini_responses(translator: Translator) -> None:
    """What LiteLLM itself sends: ``data:`` events, each a whole ``GenerateContentResponse``,
    the last one with the finish reason and usage, and nothing after it (no terminator)."""
    url = f"{translator.proxy.url}/v1beta/models/via-aichatflow:streamGenerateContent?alt=sse"
    body = {
        "contents": [{"role": "user", "parts": [{"text": "Say hello"}]}],
        "generationConfig": {"maxOutputTokens": 5},
    }
    headers = {"x-goog-api-key": translator.proxy.master_key}
    with httpx.Client(timeout=TIMEOUT, trust_env=False) as http:
        resp = http.post(url, json=body, headers=headers)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/event-stream")
    events = SSEDecoder().feed(resp.content)
    assert resp.content.endswith(b"\n\n") and b"[DONE]" not in resp.content
    chunks = [orjson.loads(e.data) for e in events]
    assert len(chunks) == 6  # one per mock token (maxOutputTokens 5), then the finish chunk
    assert all(c["candidates"][0]["finishReason"] is None for c in chunks[:-1])
    assert all("usageMetadata" not in c for c in chunks[:-1])
    last = chunks[-1]
    assert last["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert last["candidates"][0]["content"]["parts"] == []
    assert last["usageMetadata"]["candidatesTokenCount"] == 5


async def test_text_equals_the_mock_text(gemini: GeminiProvider) -> None:
    limit = await answer_tokens("via-aichatflow")
    request = {"model": "via-aichatflow", "messages": USER, "max_tokens": limit}
    want = await expected("via-aichatflow", request)
    events = await stream(gemini, request)
    check_grammar(events)
    got = accumulate(events)
    assert got.text == want.text  # every character, once, in order (curly quotes included)
    assert sum(isinstance(e, TextDelta) for e in events) >= 2, "the answer was not streamed"
    assert got.model == "gem/via-aichatflow"
    # The mock stops at its limit ("length"); LiteLLM says MAX_TOKENS; we say length again.
    assert (got.finish_reason, got.raw_finish_reason) == ("length", "MAX_TOKENS")
    assert want.usage is not None and got.usage is not None
    assert (got.usage.input_tokens, got.usage.output_tokens) == (
        want.usage.input_tokens,
        want.usage.output_tokens,
    )


async def test_a_tool_turn_conversation_crosses_both_translations(
    gemini: GeminiProvider,
) -> None:
    """System instruction, a ``functionCall`` part carrying a ``thoughtSignature`` and a
    ``functionResponse`` named from the call, as our converter writes them, are accepted by
    LiteLLM and reach the mock: its answer quotes the last user text and its input token
    count covers the text of every message."""
    request: dict[str, Any] = {
        "model": "via-aichatflow",
        "max_tokens": 12,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": "Checking.",
                "reasoning_signature": "CiQB0e2Kb7Zt1ZsX",
                "tool_calls": [
                    {
                        "id": "call_0",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_0", "content": "18C and sunny"},
            {"role": "user", "content": "Thanks, summarise"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
            }
        ],
    }
    # LiteLLM turns a functionResponse back into a tool message whose text is
    # ``json.dumps(functionResponse.response)`` (litellm 1.108.7,
    # ``google_genai/adapters/transformation.py``), so the mock counts our ``{"content": ...}``
    # wrapper too: 12 input tokens where the plain tool text gives 11.
    forwarded = json.dumps({"content": "18C and sunny"})
    messages = [
        {**m, "content": forwarded} if m["role"] == "tool" else m for m in request["messages"]
    ]
    want = await expected("via-aichatflow", {**request, "messages": messages})
    got = accumulate(await stream(gemini, request))
    assert got.text == want.text and "Thanks, summarise" in got.text
    assert want.usage is not None and got.usage is not None
    assert got.usage.input_tokens == want.usage.input_tokens == 12


async def test_litellm_error_mid_stream(gemini: GeminiProvider, translator: Translator) -> None:
    """The faulty mock fails after 3 tokens; LiteLLM relays it as ``data: {"error": ...}``
    with ``code: "500"``: the 3 tokens arrive, then a typed error, with no key in it."""
    request = {"model": "via-aichatflow-faulty", "messages": USER, "max_tokens": 8}
    full = await expected("via-aichatflow-faulty", request)  # the same mock without its fault
    events: list[ChatEvent] = []
    with pytest.raises(ProviderError) as info:
        async for event in gemini.stream(ChatRequest.model_validate(request)):
            events.append(event)
    assert accumulate(events).text == "".join(tokenize(full.text)[:3])
    assert type(info.value) is ProviderError and info.value.code == "upstream_error"
    assert "injected failure" in info.value.message
    assert translator.proxy.master_key not in info.value.message
