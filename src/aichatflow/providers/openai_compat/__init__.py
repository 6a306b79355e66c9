"""OpenAI-compatible providers: one adapter, one profile per server family.

Each factory below is what the registry's ``kind`` names point at; ``detect_openai`` and
``detect_deepseek`` register ``openai`` and ``deepseek`` by themselves when their key variable
is set (``providers/detection.py``). The adapter (``provider.py``, with the HTTP client) is
imported when the first provider is created, not when this package is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..._lazy import lazy_attributes
from ..detection import Detector, key_detector
from .profiles import DEEPSEEK, GENERIC, LITELLM, LLAMACPP, OPENAI, PROFILES, VLLM, Profile

if TYPE_CHECKING:
    from .provider import OpenAICompatProvider


def _factory(profile: Profile) -> Callable[[str, Mapping[str, Any]], OpenAICompatProvider]:
    def create(name: str, options: Mapping[str, Any]) -> OpenAICompatProvider:
        from .provider import OpenAICompatProvider

        return OpenAICompatProvider(name, profile, options)

    create.__doc__ = f"An OpenAI-compatible provider with the {profile.kind!r} profile."
    return create


openai = _factory(OPENAI)
deepseek = _factory(DEEPSEEK)
generic = _factory(GENERIC)
vllm = _factory(VLLM)
llamacpp = _factory(LLAMACPP)
litellm = _factory(LITELLM)


def _detected_by_key(profile: Profile) -> Detector:
    """The profile's kind, when the variable its provider reads the key from is set."""
    if profile.api_key_env is None:
        raise ValueError(f"profile {profile.kind!r} has no key variable to be detected by")
    return key_detector(profile.kind, profile.api_key_env)


detect_openai = _detected_by_key(OPENAI)
detect_deepseek = _detected_by_key(DEEPSEEK)

_EXPORTS = {".provider": ["OpenAICompatProvider"]}

if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS)

__all__ = [
    "PROFILES",
    "OpenAICompatProvider",
    "Profile",
    "deepseek",
    "detect_deepseek",
    "detect_openai",
    "generic",
    "litellm",
    "llamacpp",
    "openai",
    "vllm",
]
