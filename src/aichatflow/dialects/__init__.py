"""Output dialects: each reads ``ChatEvent`` batches and writes one wire format."""

from .base import SSE_HEADERS, Dialect, Headers
from .native import NativeDialect
from .openai import OpenAICompletionDialect, OpenAIStreamDialect
from .raw import RawSSEDialect

__all__ = [
    "SSE_HEADERS",
    "Dialect",
    "Headers",
    "NativeDialect",
    "OpenAICompletionDialect",
    "OpenAIStreamDialect",
    "RawSSEDialect",
]
