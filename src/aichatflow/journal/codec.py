"""One journal entry's bytes: a batch of ``ChatEvent`` as one compact JSON array.

The journal keeps bytes, not objects, for three reasons: a Redis stream can only hold bytes, one
format for both backends means a run journaled in memory and one journaled in Redis replay the
same way, and the memory backend's bounds (bytes per stream, bytes in all) are then exact.

Each event is a short array led by a one-letter tag, so the common case, a text delta, is
``["t","Hello"]``: 13 bytes of overhead on the token, one ``orjson.dumps`` per batch to write and
one ``orjson.loads`` per batch per reader to read.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..events import (
    ChatEvent,
    Finish,
    ReasoningDelta,
    StreamError,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    Usage,
    UsageUpdate,
)

_dumps, _loads = orjson.dumps, orjson.loads


def _usage(usage: Usage | None) -> list[int] | None:
    if usage is None:
        return None
    return [
        usage.input_tokens,
        usage.output_tokens,
        usage.reasoning_tokens,
        usage.cached_input_tokens,
    ]


def _unusage(fields: list[int] | None) -> Usage | None:
    if fields is None:
        return None
    i, o, r, c = fields
    return Usage(input_tokens=i, output_tokens=o, reasoning_tokens=r, cached_input_tokens=c)


def _fields(event: ChatEvent) -> list[Any]:
    cls = event.__class__
    if cls is TextDelta:
        return ["t", event.text]  # type: ignore[union-attr]
    if isinstance(event, ReasoningDelta):
        if event.signature or event.redacted:
            return ["r", event.text, event.signature, event.redacted]
        return ["r", event.text]
    if isinstance(event, ToolCallDelta):
        return ["c", event.index, event.id, event.name, event.arguments]
    if isinstance(event, UsageUpdate):
        return ["u", _usage(event.usage)]
    if isinstance(event, Finish):
        return ["f", event.reason, event.raw_reason, _usage(event.usage)]
    if isinstance(event, StreamError):
        return ["e", event.code, event.message, event.retryable, event.retry_after]
    if isinstance(event, StreamStart):
        return ["s", event.model, event.response_id]
    raise TypeError(f"not a ChatEvent: {event!r}")


def encode_batch(batch: list[ChatEvent]) -> bytes:
    """The entry for ``batch`` (one or more events, in order)."""
    if len(batch) == 1 and batch[0].__class__ is TextDelta:  # the hot case, no list building
        return _dumps([["t", batch[0].text]])
    return _dumps([_fields(event) for event in batch])


def _event(fields: list[Any]) -> ChatEvent:
    tag = fields[0]
    if tag == "t":
        return TextDelta(fields[1])
    if tag == "r":
        return ReasoningDelta(*fields[1:])
    if tag == "c":
        _, index, id_, name, arguments = fields
        return ToolCallDelta(index=index, id=id_, name=name, arguments=arguments)
    if tag == "u":
        return UsageUpdate(_unusage(fields[1]) or Usage())
    if tag == "f":
        _, reason, raw_reason, usage = fields
        return Finish(reason=reason, raw_reason=raw_reason, usage=_unusage(usage))
    if tag == "e":
        _, code, message, retryable, retry_after = fields
        return StreamError(code=code, message=message, retryable=retryable, retry_after=retry_after)
    if tag == "s":
        return StreamStart(model=fields[1], response_id=fields[2])
    raise ValueError(f"unknown journal event tag {tag!r}")


def decode_batch(data: bytes) -> list[ChatEvent]:
    """The batch an entry holds (``encode_batch``'s inverse)."""
    items: list[list[Any]] = _loads(data)
    if len(items) == 1 and items[0][0] == "t":
        return [TextDelta(items[0][1])]
    return [_event(fields) for fields in items]


def is_terminal(batch: list[ChatEvent]) -> bool:
    """Whether ``batch`` ends the run (its last event is a ``Finish`` or a ``StreamError``)."""
    return bool(batch) and batch[-1].__class__ in (Finish, StreamError)


__all__ = ["decode_batch", "encode_batch", "is_terminal"]
