"""Quirks of OpenAI-compatible servers, as data: a new compatible server is a profile or a
config table, never an ``if name == ...`` branch."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    kind: str
    base_url: str | None = None
    """Default endpoint (``.../v1``); None means the config must give ``base_url``."""
    api_key_env: str | None = None
    """Environment variable holding the key; no key means no Authorization header (vLLM,
    llama.cpp and Ollama need none, and an empty bearer makes httpx refuse the request)."""
    reasoning_fields: tuple[str, ...] = ("reasoning_content", "reasoning")
    """Delta fields that carry reasoning: DeepSeek, vLLM, LiteLLM use ``reasoning_content``;
    OpenRouter and newer vLLM use ``reasoning``."""
    stream_usage: bool = True
    """Ask for ``stream_options.include_usage`` (OpenAI sends usage only when asked)."""
    send_reasoning_back: bool = False
    """Send an assistant turn's ``reasoning_content`` back on tool-call turns (DeepSeek returns
    400 without it in thinking mode; others may reject the unknown field)."""
    max_tokens_field: str = "max_tokens"
    """``max_completion_tokens`` for OpenAI's newer models; ``max_tokens`` everywhere else."""
    models: tuple[str, ...] = ()
    """Models advertised in ``/v1/models`` when the config lists none."""
    extra_headers: dict[str, str] = field(default_factory=dict)


OPENAI = Profile(
    kind="openai",
    base_url="https://api.openai.com/v1",
    api_key_env="OPENAI_API_KEY",
    max_tokens_field="max_completion_tokens",
    models=("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini"),
)
DEEPSEEK = Profile(
    kind="deepseek",
    base_url="https://api.deepseek.com/v1",
    api_key_env="DEEPSEEK_API_KEY",
    send_reasoning_back=True,
    models=("deepseek-chat", "deepseek-reasoner"),
)
GENERIC = Profile(kind="openai-compatible")
VLLM = Profile(kind="vllm")
LLAMACPP = Profile(kind="llamacpp")
LITELLM = Profile(kind="litellm")

PROFILES: dict[str, Profile] = {
    p.kind: p for p in (OPENAI, DEEPSEEK, GENERIC, VLLM, LLAMACPP, LITELLM)
}

__all__ = ["DEEPSEEK", "GENERIC", "LITELLM", "LLAMACPP", "OPENAI", "PROFILES", "VLLM", "Profile"]
