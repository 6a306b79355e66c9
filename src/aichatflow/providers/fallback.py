"""Fallback chains and per-deployment cooldown.

An alias may name several deployments in order (``fast = ["openai/gpt-4o-mini",
"deepseek/deepseek-chat"]``). A request tries them in turn, skipping those in cooldown, and
moves on only while nothing has reached the client: the first content commits the stream to the
deployment that produced it, and a later failure is one terminal ``error`` frame, never text
from a second model glued to the first (docs/reliability.md, guarantee 4).

Each deployment keeps its own retries (the provider's one retry layer, before content); the
chain adds *fallback* across deployments, and ``Cooldowns`` keeps a failing deployment out of
the way for a while, so an outage costs the first requests their attempts, not every request
(BerriAI/litellm#40405).

Until a deployment delivers content, what it yielded (``StreamStart``, usage) is held back: if it
fails, the next deployment announces itself instead, so the stream still has exactly one
``StreamStart``, and it names the deployment that really answered.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from ..errors import ProviderError, UpstreamBadRequest
from ..events import CONTENT_TYPES, ChatEvent
from ..messages import ChatRequest
from .base import Provider


@dataclass(frozen=True, slots=True)
class Deployment:
    """One provider and one of its models: the unit that fails, cools down and answers."""

    provider: Provider
    model: str

    @property
    def name(self) -> str:
        return f"{self.provider.name}/{self.model}"


@dataclass(slots=True)
class Cooldowns:
    """Per-deployment failure counts; more than ``allowed_fails`` within ``window`` seconds puts
    a deployment in cooldown for ``cooldown`` seconds. The clock is injectable for tests."""

    allowed_fails: int = 1
    cooldown: float = 30.0
    window: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _fails: dict[str, list[float]] = field(default_factory=dict)
    _until: dict[str, float] = field(default_factory=dict)

    def available(self, name: str) -> bool:
        return self._until.get(name, 0.0) <= self.clock()

    def ready_at(self, name: str) -> float:
        return self._until.get(name, 0.0)

    def failed(self, name: str) -> None:
        now = self.clock()
        recent = [t for t in self._fails.get(name, ()) if now - t < self.window]
        recent.append(now)
        self._fails[name] = recent
        if len(recent) > self.allowed_fails:
            self._until[name] = now + self.cooldown
            self._fails[name] = []

    def succeeded(self, name: str) -> None:
        self._fails.pop(name, None)


def _falls_back(error: ProviderError) -> bool:
    """A caller's bad request fails everywhere alike; anything else may work elsewhere."""
    return not isinstance(error, UpstreamBadRequest)


def order(chain: Sequence[Deployment], cooldowns: Cooldowns) -> list[Deployment]:
    """Deployments to try: those not cooling down, in chain order; if all are, the one whose
    cooldown ends first (a request is never refused just because everything failed lately)."""
    ready = [d for d in chain if cooldowns.available(d.name)]
    return ready or [min(chain, key=lambda d: cooldowns.ready_at(d.name))]


async def fallback_batches(
    chain: Sequence[Deployment], request: ChatRequest, cooldowns: Cooldowns
) -> AsyncIterator[list[ChatEvent]]:
    """Stream ``request`` from the first deployment of ``chain`` that delivers content."""
    candidates = order(chain, cooldowns)
    for position, deployment in enumerate(candidates):
        batches = deployment.provider.stream(
            request.model_copy(update={"model": deployment.model})
        ).batches()
        held: list[ChatEvent] = []
        committed = False
        try:
            async for batch in batches:
                if committed:
                    yield batch
                    continue
                held.extend(batch)
                if any(isinstance(e, CONTENT_TYPES) for e in batch):
                    committed = True
                    cooldowns.succeeded(deployment.name)
                    yield held
            if not committed and held:
                yield held  # an answer without content (e.g. only a finish) is still an answer
            cooldowns.succeeded(deployment.name)
            return
        except ProviderError as error:
            cooldowns.failed(deployment.name)
            last = position == len(candidates) - 1
            if committed or last or not _falls_back(error):
                raise
        finally:
            await batches.aclose()  # type: ignore[attr-defined]


__all__ = ["Cooldowns", "Deployment", "fallback_batches", "order"]
