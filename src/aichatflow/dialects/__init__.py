"""Output dialects: each reads ``ChatEvent`` batches and writes one wire format, errors included
(each brings its ``ErrorShape``)."""

from .base import SSE_HEADERS, Dialect, Headers
from .error_shape import ErrorShape
from .native import NATIVE_ERRORS, NativeDialect
from .openai import OPENAI_ERRORS, OpenAICompletionDialect, OpenAIStreamDialect
from .raw import RawSSEDialect

__all__ = [
    "NATIVE_ERRORS",
    "OPENAI_ERRORS",
    "SSE_HEADERS",
    "Dialect",
    "ErrorShape",
    "Headers",
    "NativeDialect",
    "OpenAICompletionDialect",
    "OpenAIStreamDialect",
    "RawSSEDialect",
]
