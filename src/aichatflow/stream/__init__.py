"""The stream engine and its faces: ``EventStreamResponse``, ``StreamHandler``, ``SSEWriter``.

Names load on first use (``aichatflow/_lazy.py``): importing one module of this package does
not load Starlette through the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

if TYPE_CHECKING:
    from ..chat_stream import ChatStream
    from .engine import StreamOutcome, run_stream
    from .handler import Output, SSEWriter, StreamHandler
    from .limits import StreamLimits
    from .response import EventStreamResponse, new_stream_id
    from .source import as_batches
    from .watchdog import Watchdog

_EXPORTS = {
    "..chat_stream": ["ChatStream"],
    ".engine": ["StreamOutcome", "run_stream"],
    ".handler": ["Output", "SSEWriter", "StreamHandler"],
    ".limits": ["StreamLimits"],
    ".response": ["EventStreamResponse", "new_stream_id"],
    ".source": ["as_batches"],
    ".watchdog": ["Watchdog"],
}

if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS)

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
