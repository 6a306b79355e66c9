"""The stream engine and its faces: ``EventStreamResponse``, ``StreamHandler``, ``SSEWriter``."""

from ..chat_stream import ChatStream
from .engine import StreamOutcome, run_stream
from .handler import Output, SSEWriter, StreamHandler
from .limits import StreamLimits
from .response import EventStreamResponse, new_stream_id
from .source import as_batches
from .watchdog import Watchdog

__all__ = [
    "ChatStream",
    "EventStreamResponse",
    "Output",
    "SSEWriter",
    "StreamHandler",
    "StreamLimits",
    "StreamOutcome",
    "Watchdog",
    "as_batches",
    "new_stream_id",
    "run_stream",
]
