"""Batches for the stream engine: a ``ChatStream``'s own, or one-item batches of any iterable."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Any, TypeVar

from ..chat_stream import ChatStream, aclose_quietly

T = TypeVar("T")


async def _singletons(events: AsyncIterable[T]) -> AsyncIterator[list[T]]:
    iterator = aiter(events)
    try:
        async for event in iterator:
            yield [event]
    finally:
        await aclose_quietly(iterator)


def as_batches(source: AsyncIterable[T] | ChatStream) -> AsyncIterator[list[Any]]:
    """Batches from a ``ChatStream``, or one-item batches from any other async iterable."""
    if isinstance(source, ChatStream):
        return source.batches()
    return _singletons(source)


__all__ = ["as_batches"]
