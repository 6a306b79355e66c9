"""Server-Sent Events: a pure encoder for what we send, incremental decoders for what we read.

The package stands alone: it imports nothing but the standard library (nothing else from
aichatflow, no HTTP client), raises its own exceptions (``exceptions.py``) and works with any
source of bytes, the way httpx-sse does::

    import httpx
    from aichatflow.sse import SSEDecoder, SSEEventTooLarge

    decoder = SSEDecoder(max_event_bytes=1 << 20)
    with httpx.stream("GET", "http://127.0.0.1:8000/events") as response:
        for chunk in response.iter_raw():
            for event in decoder.feed(chunk):  # every event this read completed
                print(event.event, event.id, event.data)
    decoder.close()  # an event cut off by the end of the body is never dispatched

JSON lines (Ollama's format) decode the same way, and ``close()`` says whether the body was cut
in the middle of a line::

    from aichatflow.sse import NDJSONDecoder, SSETruncated

    decoder = NDJSONDecoder()
    lines = decoder.feed(b'{"a": 1}\\n{"b"') + decoder.feed(b": 2}\\n")  # two whole lines
    decoder.close()  # raises SSETruncated if bytes without their LF are left

Both are ``Decoder``s (``protocol.py``): ``feed(bytes) -> list[item]`` and ``close()``. Writing
frames: ``encode_event(data, event=..., id=..., retry=...)`` and ``encode_comment(text)``.
"""

from .decode import DEFAULT_MAX_EVENT_BYTES, ServerSentEvent, SSEDecoder
from .encode import encode_comment, encode_event
from .exceptions import LineTooLarge, SSEDecodeError, SSEError, SSEEventTooLarge, SSETruncated
from .lines import LineSplitter
from .ndjson import NDJSONDecoder
from .protocol import Decoder

__all__ = [
    "DEFAULT_MAX_EVENT_BYTES",
    "Decoder",
    "LineSplitter",
    "LineTooLarge",
    "NDJSONDecoder",
    "SSEDecodeError",
    "SSEDecoder",
    "SSEError",
    "SSEEventTooLarge",
    "SSETruncated",
    "ServerSentEvent",
    "encode_comment",
    "encode_event",
]
