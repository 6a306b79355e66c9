"""The one retry layer: retry before the first content event, never after.

Retrying after content reached the client would send the same text twice (RELIABILITY.md F10),
so ``retrying`` stops retrying at the first batch that holds content; a failure after that is
raised and becomes one terminal ``error`` frame. Before it, a retryable error is retried with
exponential backoff and full respect of ``Retry-After`` (capped: a server asking for more than
``max_retry_after`` seconds is not retried at all, like the OpenAI SDK).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from ..errors import ProviderError
from ..events import CONTENT_TYPES, ChatEvent, StreamStart

Attempt = Callable[[], AsyncIterator[list[ChatEvent]]]


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    max_retries: int = 2
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    max_retry_after: float = 120.0

    def delay(self, retries_done: int, error: ProviderError) -> float | None:
        """Seconds to wait before the next attempt, or None to give up."""
        if retries_done >= self.max_retries or not error.retryable:
            return None
        if error.retry_after is not None:
            if error.retry_after > self.max_retry_after:
                return None
            return float(error.retry_after)
        backoff = min(self.backoff_max, self.backoff_base * 2.0**retries_done)
        return backoff * (1.0 - 0.25 * random.random())


async def retrying(policy: RetryPolicy, attempt: Attempt) -> AsyncIterator[list[ChatEvent]]:
    """Run ``attempt`` until it succeeds, commits (first content), or the policy gives up."""
    retries = 0
    committed = False
    announced = False
    while True:
        batches = attempt()
        try:
            async for batch in batches:
                if not committed:
                    if announced:  # a retry must not announce the stream twice
                        batch = [e for e in batch if e.__class__ is not StreamStart]
                    elif batch and batch[0].__class__ is StreamStart:
                        announced = True
                    committed = any(isinstance(e, CONTENT_TYPES) for e in batch)
                if batch:
                    yield batch
            return
        except ProviderError as error:
            delay = None if committed else policy.delay(retries, error)
            if delay is None:
                raise
        finally:
            await batches.aclose()  # type: ignore[attr-defined]
        retries += 1
        await asyncio.sleep(delay)


__all__ = ["Attempt", "RetryPolicy", "retrying"]
