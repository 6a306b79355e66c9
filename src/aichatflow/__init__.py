"""aichatflow: stream AI chat to people.

One typed event stream from every provider, delivered over Server-Sent Events with heartbeats,
timeouts, backpressure and upstream cancellation. The public API is re-exported here.
"""

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
from .providers import Registry, create_provider
from .providers.base import Provider
from .providers.mock import MockProvider
from .providers.openai_compat import OpenAICompatProvider
from .stream import (
    ChatStream,
    EventStreamResponse,
    Output,
    SSEWriter,
    StreamHandler,
    StreamLimits,
)
from .transcript import Transcript, accumulate

__version__ = "0.1.0"

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
    "create_provider",
]
