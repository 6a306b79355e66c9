"""LiteLLM's real protocol translators in front of aichatflow's mock (docs/testing.md, LiteLLM).

LiteLLM's proxy answers ``/v1/messages`` (Anthropic) and ``:streamGenerateContent`` (Gemini)
with bytes nobody on this team wrote, but only for models with a real upstream: a
``mock_response`` model gets one non-streamed body. So the upstream here is an aichatflow server
on 127.0.0.1 running the keyless ``mock`` provider, reached by LiteLLM as an OpenAI-compatible
``hosted_vllm`` model (``openai/`` would make LiteLLM call ``/v1/responses`` instead). A test
then streams through one of aichatflow's providers pointed at LiteLLM, and compares what arrives
with what the same mock produces in-process (``expected``): two translations, one oracle.

``litellm_translator(workdir)`` starts both (about 5 s, mostly LiteLLM) and stops both; test
modules wrap it in a module-scoped fixture. It skips like ``tests/peers/conftest.py`` when the
LiteLLM venv is missing (or fails under ``AICHATFLOW_REQUIRE_PEERS=1``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aichatflow.config import Settings
from aichatflow.events import ChatEvent
from aichatflow.messages import ChatRequest
from aichatflow.providers.base import Provider
from aichatflow.providers.mock import MockProvider, tokenize
from aichatflow.server import create_app
from aichatflow.transcript import Transcript, accumulate
from tests.peers.conftest import LiteLLMProxy, _require_litellm, litellm_process
from tests.support.server import RunningServer, serve

MOCK_OPTIONS: dict[str, Any] = {"kind": "mock", "tokens_per_second": 0, "first_token_ms": 0}
"""The upstream mock streams as fast as LiteLLM reads (no pacing to wait for)."""
FAULTY_OPTIONS: dict[str, Any] = {**MOCK_OPTIONS, "error_after": 3}
"""Sends 3 tokens, then an in-band ``upstream_overloaded`` error."""

VIA_MODELS: dict[str, str] = {
    "via-aichatflow": "mock/chat",
    "via-aichatflow-reasoner": "mock/reasoner",
    "via-aichatflow-faulty": "faulty/chat",
}
"""LiteLLM model name → the aichatflow model it reaches (``hosted_vllm/`` + this)."""


@dataclass(frozen=True)
class Translator:
    """A LiteLLM proxy whose ``VIA_MODELS`` are served by an aichatflow mock server."""

    proxy: LiteLLMProxy
    upstream: RunningServer


def translator_config(api_base: str) -> str:
    """LiteLLM's YAML: one ``hosted_vllm`` model per entry of ``VIA_MODELS``."""
    models = "".join(
        f"""\
  - model_name: {name}
    litellm_params:
      model: hosted_vllm/{target}
      api_key: fake-key
      api_base: {api_base}
"""
        for name, target in VIA_MODELS.items()
    )
    # num_retries 0 and no cooldowns: the faulty model must fail once, every time, as itself.
    return f"""\
model_list:
{models}general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
litellm_settings:
  telemetry: false
router_settings:
  disable_cooldowns: true
  num_retries: 0
"""


@contextmanager
def litellm_translator(workdir: Path) -> Iterator[Translator]:
    """The aichatflow mock server, then LiteLLM in front of it; both stopped on exit."""
    _require_litellm()  # skip before starting anything
    settings = Settings.load(
        env={}, overrides={"providers": {"mock": MOCK_OPTIONS, "faulty": FAULTY_OPTIONS}}
    )
    with serve(create_app(settings)) as upstream:
        config = translator_config(f"{upstream.url}/v1")
        with litellm_process(config, workdir) as proxy:
            yield Translator(proxy, upstream)


USER = [{"role": "user", "content": "Say hello"}]
TIMEOUT = 30.0


def provider_options(translator: Translator) -> dict[str, Any]:
    """Options pointing one of aichatflow's providers at the LiteLLM proxy."""
    return {
        "base_url": translator.proxy.url,
        "api_key": translator.proxy.master_key,
        "max_retries": 0,
        "read_timeout": TIMEOUT,
    }


async def stream(provider: Provider, request: Mapping[str, Any]) -> list[ChatEvent]:
    return [e async for e in provider.stream(ChatRequest.model_validate(request))]


async def answer_tokens(via_model: str) -> int:
    """How many tokens the mock's whole answer to ``USER`` has (the limit that yields it all)."""
    return len(tokenize((await expected(via_model, {"messages": USER})).text))


async def expected(via_model: str, request: Mapping[str, Any]) -> Transcript:
    """What the upstream mock answers ``request`` (OpenAI shape) when reached as ``via_model``.

    The mock's answer depends only on the model, the last user text and the token limit, and its
    input token count on the text of every message: the same whether it is asked here or
    through two protocol translations.
    """
    provider_name, _, model = VIA_MODELS[via_model].partition("/")
    options = {k: v for k, v in MOCK_OPTIONS.items() if k != "kind"}
    mock = MockProvider(provider_name, options)
    chat = ChatRequest.model_validate({**request, "model": model})
    return accumulate([event async for event in mock.stream(chat)])


__all__ = [
    "FAULTY_OPTIONS",
    "MOCK_OPTIONS",
    "TIMEOUT",
    "USER",
    "VIA_MODELS",
    "Translator",
    "answer_tokens",
    "expected",
    "litellm_process",
    "litellm_translator",
    "provider_options",
    "stream",
    "translator_config",
]
