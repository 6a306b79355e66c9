"""The provider registry: from a ``kind`` to a factory, from a model name to a provider.

Built-in kinds are a dict of lazy ``"module:attr"`` strings (nothing is imported until used);
other packages add kinds through the ``aichatflow.providers`` entry-point group. No code outside
this module looks at a provider's name to decide anything.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from importlib.metadata import entry_points
from typing import Any, cast

from ..errors import ConfigError, UnknownModel
from ..messages import ChatRequest
from ..stream.source import ChatStream
from .base import Provider, ProviderFactory

ENTRY_POINT_GROUP = "aichatflow.providers"

_BUILTIN: dict[str, str] = {
    "mock": "aichatflow.providers.mock:create",
    "openai": "aichatflow.providers.openai_compat:openai",
    "deepseek": "aichatflow.providers.openai_compat:deepseek",
    "openai-compatible": "aichatflow.providers.openai_compat:generic",
    "vllm": "aichatflow.providers.openai_compat:vllm",
    "llamacpp": "aichatflow.providers.openai_compat:llamacpp",
    "litellm": "aichatflow.providers.openai_compat:litellm",
    "anthropic": "aichatflow.providers.anthropic:create",
    "gemini": "aichatflow.providers.gemini:create",
    "ollama": "aichatflow.providers.ollama:create",
    "local": "aichatflow.providers.local:create",
}


def _load(target: str) -> ProviderFactory:
    module, _, attr = target.partition(":")
    return cast(ProviderFactory, getattr(importlib.import_module(module), attr))


def known_kinds() -> list[str]:
    plugins = {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return sorted(set(_BUILTIN) | plugins)


def factory_for(kind: str) -> ProviderFactory:
    """The factory of a provider ``kind``: built-in first, then installed plugins."""
    target = _BUILTIN.get(kind)
    if target is not None:
        return _load(target)
    for ep in entry_points(group=ENTRY_POINT_GROUP, name=kind):
        return cast(ProviderFactory, ep.load())
    raise ConfigError(f"unknown provider kind {kind!r}; known kinds: {', '.join(known_kinds())}")


def create_provider(name: str, options: Mapping[str, Any]) -> Provider:
    """Build the provider of a ``[providers.<name>]`` table (``kind`` defaults to the name)."""
    kind = str(options.get("kind", name))
    return factory_for(kind)(name, options)


class Registry:
    """The providers of one app, and the aliases that name their models."""

    def __init__(
        self, providers: Iterable[Provider] = (), aliases: Mapping[str, str] | None = None
    ) -> None:
        self._providers: dict[str, Provider] = {}
        for provider in providers:
            self.add(provider)
        self._aliases = dict(aliases or {})

    def add(self, provider: Provider) -> None:
        if "/" in provider.name or not provider.name:
            raise ConfigError(f"provider name {provider.name!r} must be non-empty, without '/'")
        self._providers[provider.name] = provider

    @property
    def providers(self) -> Mapping[str, Provider]:
        return self._providers

    def resolve(self, model: str) -> tuple[Provider, str]:
        """``"provider/model"`` or an alias → (provider, the provider's own model id)."""
        target = self._aliases.get(model, model)
        name, slash, bare = target.partition("/")
        provider = self._providers.get(name) if slash and bare else None
        if provider is None:
            raise UnknownModel(model, [*self._providers, *self._aliases])
        return provider, bare

    def stream(self, request: ChatRequest) -> ChatStream:
        """Resolve ``request.model`` and start streaming (raises ``UnknownModel`` first)."""
        provider, bare = self.resolve(request.model)
        return provider.stream(request.model_copy(update={"model": bare}))

    def model_ids(self) -> list[tuple[str, str]]:
        """(model id, owner) for every advertised model and alias."""
        ids = [(f"{name}/{m}", name) for name, p in self._providers.items() for m in p.models]
        ids += [(alias, target.partition("/")[0]) for alias, target in self._aliases.items()]
        return ids

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()


__all__ = [
    "ENTRY_POINT_GROUP",
    "Provider",
    "ProviderFactory",
    "Registry",
    "create_provider",
    "factory_for",
    "known_kinds",
]
