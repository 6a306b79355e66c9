"""The one retry layer: retry before the first content event, never after.

Retrying after content reached the client would send the same text twice (docs/reliability.md),
so ``retrying`` stops retrying at the first batch that holds content; a failure after that is
raised and becomes one terminal ``error`` frame. Before it, a retryable error is retried with
exponential backoff and full respect of ``Retry-After`` (capped: a server asking for more than
``max_retry_after`` seconds is not retried at all, like the OpenAI SDK).

Being the one loop around every upstream request of every HTTP provider (fallback chains
included: each deployment streams through its provider's), it is also where the request's
record (``request_record.py``) learns when the first upstream request went out and how each
attempt ended: once per attempt, never per event.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ProviderError, UpstreamTimeout
from ..events import CONTENT_TYPES, ChatEvent, StreamStart
from ..request_record import note_attempt, note_dispatch

Attempt = Callable[[], AsyncIterator[list[ChatEvent]]]


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    max_retries: int = 2
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    max_retry_after: float = 120.0
    attempt_first_token: float | None = None
    """Seconds one attempt may take to deliver its first content before it is abandoned and
    retried (docs/reliability.md T08). None: only the stream's overall first-token timer applies."""

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


async def _next_before(batches: AsyncIterator[list[ChatEvent]], deadline: float | None) -> Any:
    """The next batch, or ``_END``; raises ``TimeoutError`` past ``deadline`` (loop time)."""
    try:
        if deadline is None:
            return await anext(batches)
        async with asyncio.timeout_at(deadline):
            return await anext(batches)
    except StopAsyncIteration:
        return _END


_END = object()


CANCELLED = "cancelled"
"""An attempt's result when the stream was stopped (the client left) before it delivered."""


async def retrying(
    policy: RetryPolicy, attempt: Attempt, *, provider: str = "", deployment: str = ""
) -> AsyncIterator[list[ChatEvent]]:
    """Run ``attempt`` until it succeeds, commits (first content), or the policy gives up.

    Each attempt is noted on the request's record as ``deployment`` (``provider/model``) with
    its result: ``ok`` once it delivered content or ended, else its error code."""
    loop = asyncio.get_running_loop()
    retries = 0
    announced = False
    while True:
        note_dispatch(loop.time())
        batches = attempt()
        limit = policy.attempt_first_token
        deadline = None if limit is None else loop.time() + limit
        committed = False
        result = CANCELLED
        try:
            while not committed:  # before the first content: watched, and retryable
                try:
                    batch = await _next_before(batches, deadline)
                except TimeoutError:
                    raise UpstreamTimeout(
                        f"{provider}: no content within {limit} s", provider=provider
                    ) from None
                if batch is _END:
                    result = "ok"
                    return
                if announced:  # a retry must not announce the stream twice
                    batch = [e for e in batch if e.__class__ is not StreamStart]
                elif batch and batch[0].__class__ is StreamStart:
                    announced = True
                committed = any(isinstance(e, CONTENT_TYPES) for e in batch)
                if committed:
                    result = "ok"
                if batch:
                    yield batch
            async for batch in batches:  # committed: the plain, unwatched hot path
                yield batch
            return
        except ProviderError as error:
            if not committed:
                result = error.code
            delay = None if committed else policy.delay(retries, error)
            if delay is None:
                raise
        except Exception:  # a defect, not the upstream's doing: still one attempt, failed
            if not committed:
                result = "internal_error"
            raise
        finally:
            await batches.aclose()  # type: ignore[attr-defined]
            note_attempt(deployment or provider, result)
        retries += 1
        await asyncio.sleep(delay)


__all__ = ["CANCELLED", "Attempt", "RetryPolicy", "retrying"]
