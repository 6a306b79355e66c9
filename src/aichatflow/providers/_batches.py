"""From upstream reads to batches of events: the one read loop of every HTTP provider.

A provider's body goes bytes → items → ``ChatEvent``s: a ``Decoder`` from ``aichatflow.sse``
(SSE events, JSON lines, Gemini's SSE with bare JSON) cuts each read into whole items, and the
provider's ``Parser`` (below) turns each item into events. Everything one upstream read produced
leaves as one batch, one ``send`` to the client, as soon as it is parsed: nothing waits for more.

The rules that live here so that no provider can get them wrong:

* events parsed before a bad item (an in-band error, a payload that is not JSON) in the same
  read are still delivered, then the error is raised;
* an item over the size bound is refused with ``EventTooLarge`` after the items completed
  before it are delivered (the decoder's ``SSEEventTooLarge`` is translated here, as is its
  ``SSETruncated``: a body cut in the middle of an item is ``UpstreamDisconnected``);
* the parser says when the answer is complete (``feed`` returns True): reading stops there,
  and the caller closes the response without waiting for the rest of the body;
* a body that ends first, closed or with its connection lost, is handed to the decoder's
  ``close`` and then to the parser's ``end``, which completes the answer or raises
  ``UpstreamDisconnected``. When the connection was lost, that loss is the error raised, and an
  item that ``close`` completes but that does not parse is one cut short, not a bad payload.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Protocol, TypeVar

from ..chat_stream import aclose_quietly
from ..errors import AIChatFlowError, EventTooLarge, UpstreamBadResponse, UpstreamDisconnected
from ..events import ChatEvent
from ..sse.exceptions import SSEEventTooLarge, SSETruncated
from ..sse.protocol import Decoder

ItemT = TypeVar("ItemT")
ItemT_contra = TypeVar("ItemT_contra", contravariant=True)


class Parser(Protocol[ItemT_contra]):
    """Turns one upstream response's decoded items into ``ChatEvent``s; one per response."""

    def feed(self, item: ItemT_contra, out: list[ChatEvent]) -> bool:
        """Append the events of one item to ``out``; True when it completes the answer (the
        rest of the body is not read). Raises a typed error for an in-band error or a payload
        it cannot read."""
        ...

    def end(self, lost: bool) -> list[ChatEvent]:
        """The body ended before ``feed`` returned True (``lost``: its connection broke rather
        than closed): the events that complete the answer, or ``UpstreamDisconnected`` when it
        was cut short."""
        ...


def _parse(
    items: list[ItemT], feed: Callable[[ItemT, list[ChatEvent]], bool], out: list[ChatEvent]
) -> bool:
    """Feed ``items`` into ``out``; True once one completes the answer (the rest is ignored)."""
    for item in items:  # noqa: SIM110 - any() over a generator: one more frame per item
        if feed(item, out):
            return True
    return False


async def read_batches(
    chunks: AsyncIterator[bytes], decoder: Decoder[ItemT], parser: Parser[ItemT], provider: str
) -> AsyncGenerator[list[ChatEvent], None]:
    """The batches of one upstream body, ``chunks`` being its reads."""
    decode, feed = decoder.feed, parser.feed
    lost: UpstreamDisconnected | None = None
    try:
        while True:
            try:
                chunk = await anext(chunks)
            except StopAsyncIteration:
                break
            except UpstreamDisconnected as exc:
                lost = exc
                break
            try:
                items = decode(chunk)
            except SSEEventTooLarge as exc:
                async for batch in _refused(exc.partial, exc.limit, feed):
                    yield batch
                return
            if not items:
                continue
            out: list[ChatEvent] = []
            done = False
            try:  # _parse, written out: this is the per-read hot path
                for item in items:
                    if feed(item, out):
                        done = True
                        break
            except AIChatFlowError:
                if out:  # what arrived before the bad item in the same read still counts
                    yield out
                raise
            if out:
                yield out
            if done:
                return
    finally:
        await aclose_quietly(chunks)  # a failure closing must not hide why we stopped
    ending, lost = _ending(decoder, parser, provider, lost), None  # no cycle through this frame
    async for batch in ending:
        yield batch


async def _refused(
    partial: list[ItemT], limit: int, feed: Callable[[ItemT, list[ChatEvent]], bool]
) -> AsyncGenerator[list[ChatEvent], None]:
    """An item over the size bound: the items completed before it are delivered, then it is
    refused with ``EventTooLarge``, unless one of them completed the answer already."""
    out: list[ChatEvent] = []
    try:
        done = _parse(partial, feed, out)
    except AIChatFlowError:
        if out:
            yield out
        raise
    if out:
        yield out
    if not done:
        raise EventTooLarge(limit)


async def _ending(
    decoder: Decoder[ItemT],
    parser: Parser[ItemT],
    provider: str,
    lost: UpstreamDisconnected | None,
) -> AsyncGenerator[list[ChatEvent], None]:
    """The end of the body (``lost``: its connection broke): the events it completes, then
    the error it ends with, if any."""
    try:
        out, error = _settle(decoder, parser, provider, lost is not None)
        if out:
            yield out
        if error is not None:  # a lost connection says best why an answer is incomplete
            raise lost if lost is not None and isinstance(error, UpstreamDisconnected) else error
    finally:
        error = lost = None  # tracebacks hold this frame: no reference cycle through its locals


def _settle(
    decoder: Decoder[ItemT], parser: Parser[ItemT], provider: str, lost: bool
) -> tuple[list[ChatEvent], AIChatFlowError | None]:
    """The events the end of the body completes, and the error it ends with, if any."""
    out: list[ChatEvent] = []
    try:
        too_large: int | None = None
        try:
            items = decoder.close()
        except SSEEventTooLarge as exc:
            items, too_large = exc.partial, exc.limit
        except SSETruncated as exc:
            raise UpstreamDisconnected(
                f"{provider}: upstream closed the stream in the middle of {exc.item}",
                provider=provider,
            ) from None
        try:
            if _parse(items, parser.feed, out):
                return out, None
        except UpstreamBadResponse:
            if not lost:
                raise
        if too_large is not None:
            raise EventTooLarge(too_large)
        out += parser.end(lost)
    except AIChatFlowError as exc:
        return out, exc
    return out, None


__all__ = ["Parser", "read_batches"]
