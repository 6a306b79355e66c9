"""Fold a stream of ``ChatEvent`` into the whole answer.

Used for the non-streaming ``/v1/chat/completions`` body, by the CLI, by tests that compare what
a client saw with what the provider sent, and later for persistence. ``TranscriptBuilder`` keeps
pieces in lists so folding n deltas costs O(n), not O(n^2) string concatenation; ``accumulate``
is the pure face of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import assert_never

from .events import (
    ChatEvent,
    Finish,
    FinishReason,
    ReasoningDelta,
    StreamError,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    Usage,
    UsageUpdate,
)


@dataclass(frozen=True, slots=True)
class AssembledToolCall:
    index: int
    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Transcript:
    model: str = ""
    response_id: str = ""
    text: str = ""
    reasoning: str = ""
    reasoning_signature: str = ""
    reasoning_redacted: tuple[str, ...] = ()
    tool_calls: tuple[AssembledToolCall, ...] = ()
    usage: Usage | None = None
    finish_reason: FinishReason | None = None
    raw_finish_reason: str | None = None
    error: StreamError | None = None

    @property
    def complete(self) -> bool:
        return self.finish_reason is not None and self.error is None


@dataclass(slots=True)
class _ToolParts:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass(slots=True)
class TranscriptBuilder:
    """Mutable accumulator; call ``add`` per event and ``result`` at the end."""

    model: str = ""
    response_id: str = ""
    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    signature: str = ""
    redacted: list[str] = field(default_factory=list)
    tools: dict[int, _ToolParts] = field(default_factory=dict)
    usage: Usage | None = None
    finish: Finish | None = None
    error: StreamError | None = None

    def add(self, event: ChatEvent) -> None:
        match event:
            case TextDelta():
                self.text.append(event.text)
            case ReasoningDelta():
                self.reasoning.append(event.text)
                if event.signature:
                    self.signature = event.signature
                if event.redacted:
                    self.redacted.append(event.redacted)
            case ToolCallDelta():
                parts = self.tools.setdefault(event.index, _ToolParts())
                parts.id = parts.id or event.id
                parts.name = parts.name or event.name
                parts.arguments.append(event.arguments)
            case UsageUpdate():
                self.usage = event.usage
            case Finish():
                self.finish = event
                if event.usage is not None:
                    self.usage = event.usage
            case StreamError():
                self.error = event
            case StreamStart():
                self.model = event.model
                self.response_id = event.response_id
            case _:
                assert_never(event)

    def result(self) -> Transcript:
        calls = tuple(
            AssembledToolCall(i, p.id, p.name, "".join(p.arguments))
            for i, p in sorted(self.tools.items())
        )
        return Transcript(
            model=self.model,
            response_id=self.response_id,
            text="".join(self.text),
            reasoning="".join(self.reasoning),
            reasoning_signature=self.signature,
            reasoning_redacted=tuple(self.redacted),
            tool_calls=calls,
            usage=self.usage,
            finish_reason=self.finish.reason if self.finish else None,
            raw_finish_reason=self.finish.raw_reason if self.finish else None,
            error=self.error,
        )


def accumulate(events: Iterable[ChatEvent]) -> Transcript:
    """Fold ``events`` into a ``Transcript`` (pure: same events, same transcript)."""
    builder = TranscriptBuilder()
    for event in events:
        builder.add(event)
    return builder.result()


__all__ = ["AssembledToolCall", "Transcript", "TranscriptBuilder", "accumulate"]
