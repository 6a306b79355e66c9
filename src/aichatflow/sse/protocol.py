"""``Decoder``: the one shape of every incremental stream decoder in ``aichatflow.sse``.

A reader of a streamed body does the same thing whatever the format: hand each read to the
decoder, take the items it completed, and at the end of the body ask for what is still pending.
Writing that against one protocol lets the loop exist once, however many formats there are:
``SSEDecoder`` (``ServerSentEvent``), ``NDJSONDecoder`` (one JSON line as ``bytes``), and
decoders composed from them (aichatflow's Gemini decoder adds bare JSON objects to SSE).

Each read yields *every* item it completed, in one list: one upstream read, one batch.
"""

from __future__ import annotations

from typing import Protocol, TypeVar, runtime_checkable

ItemT = TypeVar("ItemT")


@runtime_checkable
class Decoder(Protocol[ItemT]):
    """Bytes in as they arrive, whole items out."""

    def feed(self, chunk: bytes) -> list[ItemT]:
        """The items ``chunk`` completed, in order (often none: an item may span many reads).

        Raises ``SSEEventTooLarge`` when the item being decoded outgrows the decoder's bound,
        with the items completed before it in ``.partial``.
        """
        ...

    def close(self) -> list[ItemT]:
        """The input has ended: the items that only its end completes (usually none).

        Raises ``SSETruncated`` when the format says the input was cut in the middle of an
        item. The decoder is spent afterwards.
        """
        ...


__all__ = ["Decoder", "ItemT"]
