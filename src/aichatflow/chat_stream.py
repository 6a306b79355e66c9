"""``ChatStream``: what ``Provider.stream()`` returns.

A provider parses every complete upstream event from one upstream read and hands them over
together as one batch (a list); the stream engine renders a batch into one ``send``
(coalescing at the source, no producer task or queue per stream; docs/benchmarks.md says why).
People iterating a ``ChatStream`` themselves see a flat sequence of ``ChatEvent``s and never
the batches.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from .events import ChatEvent

Batch = list[ChatEvent]
log = logging.getLogger("aichatflow.stream")


class ChatStream:
    """An async iterator of ``ChatEvent`` over an async iterator of batches.

    Closing it (``aclose()``, or cancelling the task iterating it) closes the provider's
    generator, which closes the upstream HTTP response: that is how a client leaving stops
    token spending.
    """

    __slots__ = ("_batches", "_index", "_pending")

    def __init__(self, batches: AsyncIterator[Batch]) -> None:
        self._batches = batches
        self._pending: Batch = []
        self._index = 0

    def batches(self) -> AsyncIterator[Batch]:
        """The underlying batches, for the stream engine (do not mix with flat iteration)."""
        return self._batches

    def __aiter__(self) -> ChatStream:
        return self

    async def __anext__(self) -> ChatEvent:
        while self._index >= len(self._pending):
            self._pending = await self._batches.__anext__()
            self._index = 0
        event = self._pending[self._index]
        self._index += 1
        return event

    async def aclose(self) -> None:
        aclose = getattr(self._batches, "aclose", None)
        if aclose is not None:
            await aclose()


async def aclose_quietly(obj: Any) -> None:
    """Close an async iterator if it can be closed (generators and ``ChatStream`` can).

    A failure while closing is logged, never raised: it must not hide why the stream ended.
    """
    aclose = getattr(obj, "aclose", None)
    if aclose is None:
        return
    try:
        await aclose()
    except Exception:
        log.warning("closing a stream source failed", exc_info=True)


__all__ = ["Batch", "ChatStream", "aclose_quietly"]
