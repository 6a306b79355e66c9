"""Server-Sent Events: a pure encoder for what we send, an incremental decoder for what we read."""

from .decode import DEFAULT_MAX_EVENT_BYTES, ServerSentEvent, SSEDecoder
from .encode import encode_comment, encode_event

__all__ = [
    "DEFAULT_MAX_EVENT_BYTES",
    "SSEDecoder",
    "ServerSentEvent",
    "encode_comment",
    "encode_event",
]
