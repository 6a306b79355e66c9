"""The ``Registry``: from a model name (``provider/model``, an alias, a fallback chain) to the
provider that streams it.

It holds providers built elsewhere (``providers/build.py`` builds them from settings; a library
user may add their own) and never looks at a provider's name to decide anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence

from ..chat_stream import ChatStream
from ..errors import ConfigError, UnknownModel
from ..messages import ChatRequest
from ._model_list import WAIT
from .base import Provider, RefreshesModels
from .fallback import Cooldowns, Deployment, fallback_batches, order


class Registry:
    """The providers of one app, and the aliases that name their models.

    An alias names one ``provider/model`` or a fallback chain of them (``providers.fallback``).
    """

    def __init__(
        self,
        providers: Iterable[Provider] = (),
        aliases: Mapping[str, str | Sequence[str]] | None = None,
        cooldowns: Cooldowns | None = None,
    ) -> None:
        self._providers: dict[str, Provider] = {}
        for provider in providers:
            self.add(provider)
        self._aliases = {
            k: [v] if isinstance(v, str) else list(v) for k, v in (aliases or {}).items()
        }
        self.cooldowns = cooldowns or Cooldowns()

    def add(self, provider: Provider) -> None:
        if "/" in provider.name or not provider.name:
            raise ConfigError(f"provider name {provider.name!r} must be non-empty, without '/'")
        self._providers[provider.name] = provider

    @property
    def providers(self) -> Mapping[str, Provider]:
        return self._providers

    def _deployment(self, model: str, target: str) -> Deployment:
        name, slash, bare = target.partition("/")
        provider = self._providers.get(name) if slash and bare else None
        if provider is None:
            raise UnknownModel(model, [*self._providers, *self._aliases])
        return Deployment(provider, bare)

    def chain(self, model: str) -> list[Deployment]:
        """``"provider/model"`` or an alias → the deployments it names, in order."""
        targets = self._aliases.get(model, [model])
        if not targets:
            raise UnknownModel(model, [*self._providers, *self._aliases])
        return [self._deployment(model, t) for t in targets]

    @property
    def has_fallbacks(self) -> bool:
        """Whether an alias names a chain of several deployments: only chains read the
        cooldowns, so without one there is nothing to share between instances."""
        return any(len(targets) > 1 for targets in self._aliases.values())

    def resolve(self, model: str) -> tuple[Provider, str]:
        """The first deployment of ``model``: (provider, the provider's own model id)."""
        first = self.chain(model)[0]
        return first.provider, first.model

    def plan(self, model: str) -> list[Deployment]:
        """The deployments a request for ``model`` will try now, cooldowns considered."""
        return order(self.chain(model), self.cooldowns)

    def stream(self, request: ChatRequest) -> ChatStream:
        """Resolve ``request.model`` and start streaming (raises ``UnknownModel`` first)."""
        chain = self.chain(request.model)
        if len(chain) == 1:  # the common case: no fallback wrapper, no extra hop per batch
            only = chain[0]
            return only.provider.stream(request.model_copy(update={"model": only.model}))
        return ChatStream(fallback_batches(chain, request, self.cooldowns))

    async def refresh_models(self) -> None:
        """Let providers that list their upstream's models refresh them, all at once; bounded
        (a plugin's hang or failure only leaves its list as it was)."""
        waits = [
            asyncio.wait_for(p.refresh_models(), WAIT + 0.5)
            for p in self._providers.values()
            if isinstance(p, RefreshesModels)
        ]
        if waits:
            await asyncio.gather(*waits, return_exceptions=True)

    def model_ids(self) -> list[tuple[str, str]]:
        """(model id, owner) for every advertised model and alias (call ``refresh_models``
        first for the upstreams' current lists)."""
        ids = [(f"{name}/{m}", name) for name, p in self._providers.items() for m in p.models]
        for alias, targets in self._aliases.items():
            owner = targets[0].partition("/")[0] if len(targets) == 1 else "fallback"
            ids.append((alias, owner))
        return ids

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()


__all__ = ["Registry"]
