"""Fallback chains and per-deployment cooldown.

An alias may name several deployments in order (``fast = ["openai/gpt-4o-mini",
"deepseek/deepseek-chat"]``). A request tries them in turn, skipping those in cooldown, and
moves on only while nothing has reached the client: the first content commits the stream to the
deployment that produced it, and a later failure is one terminal ``error`` frame, never text
from a second model glued to the first (docs/reliability.md, guarantee 4).

Each deployment keeps its own retries (the provider's one retry layer, before content); the
chain adds *fallback* across deployments, and ``Cooldowns`` keeps a failing deployment out of
the way for a while, so an outage costs the first requests their attempts, not every request
(BerriAI/litellm#40405). A success clears a deployment's cooldown: it answers again.

``Cooldowns`` lives in one process's memory, and a request reads only that memory: deciding
what to skip never waits on a network. A ``CooldownSharing`` attached to it (the server attaches
``server/redis_cooldowns.py`` when ``[limits] storage`` is Redis) hears of each failure and
recovery, and brings other instances' news back through ``cool``/``clear``; it is told only of
those, never of an ordinary success, so a healthy chain costs it nothing.

Until a deployment delivers content, what it yielded (``StreamStart``, usage) is held back: if it
fails, the next deployment announces itself instead, so the stream still has exactly one
``StreamStart``, and it names the deployment that really answered.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

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


class CooldownSharing(Protocol):
    """Where a ``Cooldowns`` reports what it learned, for other processes to learn it too.

    Both methods are called on a request's path: they must return at once (queue the work)
    and never raise; the request has already acted on the local state."""

    def failed(self, name: str) -> None: ...

    def recovered(self, name: str) -> None: ...


@dataclass(slots=True)
class Cooldowns:
    """Per-deployment failure counts; more than ``allowed_fails`` within ``window`` seconds puts
    a deployment in cooldown for ``cooldown`` seconds; its next success takes it out. The clock
    is injectable for tests."""

    allowed_fails: int = 1
    cooldown: float = 30.0
    window: float = 60.0
    clock: Callable[[], float] = time.monotonic
    sharing: CooldownSharing | None = None
    """Told of failures and recoveries (module docstring); ``None``: this process only."""
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
        if self.sharing is not None:
            self.sharing.failed(name)

    def succeeded(self, name: str) -> None:
        """``name`` answered: its failures are forgiven and its cooldown, if any, ends; others
        hear of it only when there was something to forgive."""
        had_failures = bool(self._fails.pop(name, None))
        was_cooling = self._until.pop(name, 0.0) > self.clock()
        if self.sharing is not None and (had_failures or was_cooling):
            self.sharing.recovered(name)

    def cool(self, name: str, seconds: float) -> None:
        """Another instance put ``name`` in cooldown for ``seconds`` more (a duration, not a
        time: clocks of two hosts are not comparable)."""
        self._until[name] = self.clock() + seconds

    def clear(self, name: str) -> None:
        """Another instance saw ``name`` answer: as ``succeeded``, without reporting it back."""
        self._fails.pop(name, None)
        self._until.pop(name, None)


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
            if not committed:
                # An answer without content (e.g. only a finish) is still an answer. Not
                # reported again after content: a long answer's end says nothing of the
                # deployment's health now, and must not lift a cooldown others set meanwhile.
                cooldowns.succeeded(deployment.name)
                if held:
                    yield held
            return
        except ProviderError as error:
            cooldowns.failed(deployment.name)
            last = position == len(candidates) - 1
            if committed or last or not _falls_back(error):
                raise
        finally:
            await batches.aclose()  # type: ignore[attr-defined]


__all__ = ["CooldownSharing", "Cooldowns", "Deployment", "fallback_batches", "order"]
