"""The one internal vocabulary: every provider yields ``ChatEvent``s, every dialect renders them.

Grammar of one stream (providers must follow it; the stream engine enforces the tail)::

    StreamStart  (TextDelta | ReasoningDelta | ToolCallDelta | UsageUpdate)*  (Finish | StreamError)

``StreamStart`` says the upstream accepted the request (on ``/v1`` that is when the response
headers are sent). Exactly one terminal event ends a stream. Providers normally *raise* a typed
error from ``aichatflow.errors`` instead of yielding ``StreamError``; only the stream engine turns
an exception into the terminal frame, so no provider has to know about wire formats.

Events are frozen, slotted dataclasses: creating one costs about as much as a tuple, which
matters because one is created per token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

FinishReason: TypeAlias = Literal[
    "stop", "length", "tool-calls", "content-filter", "cancelled", "error", "other"
]
"""Closed set of reasons a stream finished; each provider maps its raw value into it."""

FINISH_REASONS: frozenset[str] = frozenset(
    ("stop", "length", "tool-calls", "content-filter", "cancelled", "error", "other")
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """Token counts; providers report what they know and leave the rest at zero."""

    input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    """Part of ``output_tokens`` spent on reasoning, when the provider says so."""
    cached_input_tokens: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "cached_input_tokens": self.cached_input_tokens,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamStart:
    """The upstream accepted the request and is about to stream."""

    model: str
    """The model that actually answers (``provider/model``), which may differ from the request."""
    response_id: str = ""
    """The upstream's id for this response, when it gives one (kept for logs and support)."""
    type: Literal["start"] = "start"


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the visible answer."""

    text: str
    type: Literal["text"] = "text"


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of the model's reasoning, shown apart from the answer."""

    text: str
    signature: str = ""
    """Opaque proof that closes a reasoning block (Anthropic ``signature_delta``, Gemini
    ``thoughtSignature``). Some providers require it back, unchanged, on later turns."""
    redacted: str = ""
    """An encrypted reasoning block the provider will not show (Anthropic
    ``redacted_thinking``); like a signature it must be sent back as it came."""
    type: Literal["reasoning"] = "reasoning"


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCallDelta:
    """A piece of a tool call. ``index`` is stable per call within one stream.

    The first delta of a call carries ``id`` and ``name``; later ones carry argument fragments
    to concatenate (``arguments`` is JSON text, possibly incomplete until the stream ends).
    """

    index: int
    id: str = ""
    name: str = ""
    arguments: str = ""
    type: Literal["tool_call"] = "tool_call"


@dataclass(frozen=True, slots=True)
class UsageUpdate:
    """Cumulative usage so far (a later update replaces an earlier one)."""

    usage: Usage
    type: Literal["usage"] = "usage"


@dataclass(frozen=True, slots=True, kw_only=True)
class Finish:
    """The stream ended normally."""

    reason: FinishReason
    raw_reason: str | None = None
    """The provider's own value (``end_turn``, ``STOP``...), kept for debugging."""
    usage: Usage | None = None
    type: Literal["done"] = "done"


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamError:
    """The stream ended with an error; ``code`` is one of ``errors.ERROR_CODES``."""

    code: str
    message: str
    retryable: bool = False
    retry_after: float | None = None
    """Seconds the upstream asked us to wait (``Retry-After``), passed on to the client."""
    type: Literal["error"] = "error"


ChatEvent: TypeAlias = (
    StreamStart | TextDelta | ReasoningDelta | ToolCallDelta | UsageUpdate | Finish | StreamError
)
TerminalEvent: TypeAlias = Finish | StreamError
CONTENT_TYPES: tuple[type, ...] = (TextDelta, ReasoningDelta, ToolCallDelta)
"""Events that count as content: the first one commits the stream (no retry after it)."""

__all__ = [
    "CONTENT_TYPES",
    "FINISH_REASONS",
    "ChatEvent",
    "Finish",
    "FinishReason",
    "ReasoningDelta",
    "StreamError",
    "StreamStart",
    "TerminalEvent",
    "TextDelta",
    "ToolCallDelta",
    "Usage",
    "UsageUpdate",
]
