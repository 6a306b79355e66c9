"""aichatflow: stream AI chat to people.

One typed event stream from every provider, delivered over Server-Sent Events with heartbeats,
timeouts, backpressure and upstream cancellation. The public API is re-exported here.

Names are imported on first use (``aichatflow/_lazy.py``): ``import aichatflow.events`` or
``aichatflow.sse.decode`` loads those modules only, not the stream engine, Starlette, pydantic
or the HTTP client; ``from aichatflow import EventStreamResponse`` loads what that class needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_attributes

if TYPE_CHECKING:
    from .chat_stream import ChatStream
    from .config import Settings
    from .errors import (
        AIChatFlowError,
        ConfigError,
        ProviderError,
        RequestError,
        UnknownModel,
    )
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
    from .messages import ChatRequest, Message, Tool
    from .providers import create_provider
    from .providers.base import Provider
    from .providers.build import build_registry
    from .providers.mock import MockProvider
    from .providers.openai_compat.provider import OpenAICompatProvider
    from .providers.registry import Registry
    from .stream.handler import Output, SSEWriter, StreamHandler
    from .stream.limits import StreamLimits
    from .stream.response import EventStreamResponse
    from .transcript import Transcript, accumulate

__version__ = "0.1.0"

_EXPORTS = {
    ".chat_stream": ["ChatStream"],
    ".config": ["Settings"],
    ".errors": ["AIChatFlowError", "ConfigError", "ProviderError", "RequestError", "UnknownModel"],
    ".events": [
        "ChatEvent",
        "Finish",
        "FinishReason",
        "ReasoningDelta",
        "StreamError",
        "StreamStart",
        "TextDelta",
        "ToolCallDelta",
        "Usage",
        "UsageUpdate",
    ],
    ".messages": ["ChatRequest", "Message", "Tool"],
    ".providers": ["create_provider"],
    ".providers.base": ["Provider"],
    ".providers.build": ["build_registry"],
    ".providers.mock": ["MockProvider"],
    ".providers.openai_compat.provider": ["OpenAICompatProvider"],
    ".providers.registry": ["Registry"],
    ".stream.handler": ["Output", "SSEWriter", "StreamHandler"],
    ".stream.limits": ["StreamLimits"],
    ".stream.response": ["EventStreamResponse"],
    ".transcript": ["Transcript", "accumulate"],
}
"""Where each public name is defined (the imports above, for what runs)."""

if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS)

__all__ = [
    "AIChatFlowError",
    "ChatEvent",
    "ChatRequest",
    "ChatStream",
    "ConfigError",
    "EventStreamResponse",
    "Finish",
    "FinishReason",
    "Message",
    "MockProvider",
    "OpenAICompatProvider",
    "Output",
    "Provider",
    "ProviderError",
    "ReasoningDelta",
    "Registry",
    "RequestError",
    "SSEWriter",
    "Settings",
    "StreamError",
    "StreamHandler",
    "StreamLimits",
    "StreamStart",
    "TextDelta",
    "Tool",
    "ToolCallDelta",
    "Transcript",
    "UnknownModel",
    "Usage",
    "UsageUpdate",
    "__version__",
    "accumulate",
    "build_registry",
    "create_provider",
]
