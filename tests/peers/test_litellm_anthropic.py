"""aichatflow's ``anthropic`` provider against LiteLLM's Anthropic-format ``/v1/messages``.

Why: the provider's fixtures and fakes are bytes we chose. LiteLLM's ``/v1/messages`` is an
Anthropic-format server nobody here wrote: it parses our request body (system, ``tool_use``,
``tool_result`` blocks) and streams its own events, with quirks of its own (spaces after the
JSON separators, input tokens only in ``message_delta``, ``event: error`` mid-stream). The chain
is ``AnthropicProvider → LiteLLM /v1/messages → hosted_vllm → aichatflow mock /v1`` and the
oracle is the same mock run in-process (``tests/peers/_litellm_translator.py``).

The first test pins what LiteLLM itself sends, so a failure says whether LiteLLM changed or
aichatflow did.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from aichatflow.errors import ProviderError
from aichatflow.events import ChatEvent, ReasoningDelta, TextDelta
from aichatflow.messages import ChatRequest
from aichatflow.providers.anthropic import AnthropicProvider
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
    with litellm_translator(tmp_path_factory.mktemp("litellm-anthropic")) as running:
        yield running


@pytest.fixture
async def claude(translator: Translator) -> AsyncIterator[AnthropicProvider]:
    options = provider_options(translator)
    provider = AnthropicProvider("claude", options)
    yield provider
    await provider.aclose()


def test_litellm_streams_anthropic_events(translator: Translator) -> None:
    """What LiteLLM itself sends: named events whose JSON ``type`` repeats the name."""
    body = {"model": "via-aichatflow", "max_tokens": 5, "messages": USER, "stream": True}
    headers = {"x-api-key": translator.proxy.master_key, "anthropic-version": "2023-06-01"}
    with httpx.Client(timeout=TIMEOUT, trust_env=False) as http:
        resp = http.post(f"{translator.proxy.url}/v1/messages", json=body, headers=headers)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/event-stream")
    events = SSEDecoder().feed(resp.content)
    names = [e.event for e in events]
    assert names[:2] == ["message_start", "content_block_start"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert names[2:-3] == ["content_block_delta"] * 5  # one per mock token (max_tokens 5)
    assert all(f'"type": "{e.event}"' in e.data or f'"type":"{e.event}"' in e.data for e in events)


async def test_text_equals_the_mock_text(claude: AnthropicProvider) -> None:
    limit = await answer_tokens("via-aichatflow")
    request = {"model": "via-aichatflow", "messages": USER, "max_tokens": limit}
    want = await expected("via-aichatflow", request)
    events = await stream(claude, request)
    check_grammar(events)
    got = accumulate(events)
    assert got.text == want.text  # every character, once, in order (curly quotes included)
    assert sum(isinstance(e, TextDelta) for e in events) >= 2, "the answer was not streamed"
    assert got.model == "claude/via-aichatflow" and got.response_id.startswith("msg_")
    # The mock stops at its limit ("length"); LiteLLM says max_tokens; we say length again.
    assert (got.finish_reason, got.raw_finish_reason) == ("length", "max_tokens")
    assert want.usage is not None and got.usage is not None
    assert (got.usage.input_tokens, got.usage.output_tokens) == (
        want.usage.input_tokens,
        want.usage.output_tokens,
    )


async def test_reasoning_arrives_as_reasoning(claude: AnthropicProvider) -> None:
    """The mock's reasoning_content becomes LiteLLM's ``thinking`` block, then ours again."""
    request = {"model": "via-aichatflow-reasoner", "messages": USER, "max_tokens": 6}
    want = await expected("via-aichatflow-reasoner", request)
    events = await stream(claude, request)
    check_grammar(events)
    got = accumulate(events)
    assert want.reasoning and got.reasoning == want.reasoning
    assert got.text == want.text
    first_text = next(i for i, e in enumerate(events) if isinstance(e, TextDelta))
    assert all(not isinstance(e, ReasoningDelta) for e in events[first_text:])


async def test_a_tool_turn_conversation_crosses_both_translations(
    claude: AnthropicProvider,
) -> None:
    """System prompt, ``tool_use`` and merged ``tool_result`` blocks, as our converter writes
    them, are accepted by LiteLLM and reach the mock: its answer quotes the last user text and
    its input token count covers the text of every message."""
    request = {
        "model": "via-aichatflow",
        "max_tokens": 12,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {
                        "id": "toolu_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": "18C and sunny"},
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
    want = await expected("via-aichatflow", request)
    got = accumulate(await stream(claude, request))
    assert got.text == want.text and "Thanks, summarise" in got.text
    assert want.usage is not None and got.usage is not None
    assert got.usage.input_tokens == want.usage.input_tokens == 11


async def test_litellm_error_event_mid_stream(
    claude: AnthropicProvider, translator: Translator
) -> None:
    """The faulty mock fails after 3 tokens; LiteLLM reports it as a real ``event: error``
    (``api_error``): the 3 tokens arrive, then the typed error, with no key in its message."""
    request = {"model": "via-aichatflow-faulty", "messages": USER, "max_tokens": 8}
    full = await expected("via-aichatflow-faulty", request)  # the same mock without its fault
    events: list[ChatEvent] = []
    with pytest.raises(ProviderError) as info:
        async for event in claude.stream(ChatRequest.model_validate(request)):
            events.append(event)
    assert accumulate(events).text == "".join(tokenize(full.text)[:3])
    assert type(info.value) is ProviderError and info.value.code == "upstream_error"
    assert "injected failure" in info.value.message
    assert translator.proxy.master_key not in info.value.message
