"""OpenAI-compatible providers: one adapter, one profile per server family.

Each factory below is what the registry's ``kind`` names point at.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .profiles import DEEPSEEK, GENERIC, LITELLM, LLAMACPP, OPENAI, PROFILES, VLLM, Profile
from .provider import OpenAICompatProvider


def _factory(profile: Profile):  # type: ignore[no-untyped-def]
    def create(name: str, options: Mapping[str, Any]) -> OpenAICompatProvider:
        return OpenAICompatProvider(name, profile, options)

    create.__doc__ = f"An OpenAI-compatible provider with the {profile.kind!r} profile."
    return create


openai = _factory(OPENAI)
deepseek = _factory(DEEPSEEK)
generic = _factory(GENERIC)
vllm = _factory(VLLM)
llamacpp = _factory(LLAMACPP)
litellm = _factory(LITELLM)

__all__ = [
    "PROFILES",
    "OpenAICompatProvider",
    "Profile",
    "deepseek",
    "generic",
    "litellm",
    "llamacpp",
    "openai",
    "vllm",
]
