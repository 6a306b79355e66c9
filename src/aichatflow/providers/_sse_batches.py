"""From upstream reads to batches of events: the loop every SSE-speaking provider shares.

Each read is decoded into whole SSE events, each event is parsed into ``ChatEvent``s by the
provider's ``feed``, and everything one read produced leaves as one batch (one ``send`` to the
client). Two rules live here so no provider can get them wrong: events parsed before a bad one
in the same read are still delivered, and an event over the size limit is refused with
``EventTooLarge`` after delivering what came before it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from ..errors import AIChatFlowError, EventTooLarge
from ..events import ChatEvent
from ..sse.decode import EventTooLargeWithPartial, ServerSentEvent, SSEDecoder

Feed = Callable[[ServerSentEvent, list[ChatEvent]], bool]
"""Parses one SSE event into the list; True when the event ends the stream."""


class SSEBatches:
    """``async for batch in SSEBatches(decoder, feed).over(chunks)``; then ``done`` tells a
    stream that ended properly (``feed`` said so) from a body that simply stopped."""

    __slots__ = ("decoder", "done", "feed")

    def __init__(self, decoder: SSEDecoder, feed: Feed) -> None:
        self.decoder = decoder
        self.feed = feed
        self.done = False

    async def over(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[list[ChatEvent]]:
        decode, feed = self.decoder.feed, self.feed
        async for chunk in chunks:
            try:
                events = decode(chunk)
            except EventTooLargeWithPartial as exc:
                out: list[ChatEvent] = []
                for sse in exc.partial:
                    feed(sse, out)
                if out:
                    yield out
                raise EventTooLarge(exc.limit) from None
            if not events:
                continue
            out = []
            try:
                for sse in events:
                    if feed(sse, out):
                        self.done = True
                        break
            except AIChatFlowError:
                if out:  # what arrived before the bad event in the same read still counts
                    yield out
                raise
            if out:
                yield out
            if self.done:
                return


__all__ = ["Feed", "SSEBatches"]
