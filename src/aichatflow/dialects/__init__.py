"""Output dialects: each reads ``ChatEvent`` batches and writes one wire format, errors included
(each brings its ``ErrorShape``).

Names load on first use (``aichatflow/_lazy.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

if TYPE_CHECKING:
    from .anthropic import AnthropicMessageDialect, AnthropicStreamDialect
    from .anthropic_errors import ANTHROPIC_ERRORS
    from .base import SSE_HEADERS, Dialect, Headers
    from .error_shape import ErrorShape
    from .native import NATIVE_ERRORS, NativeDialect
    from .openai import OPENAI_ERRORS, OpenAICompletionDialect, OpenAIStreamDialect
    from .raw import RawSSEDialect

_EXPORTS = {
    ".anthropic": ["AnthropicMessageDialect", "AnthropicStreamDialect"],
    ".anthropic_errors": ["ANTHROPIC_ERRORS"],
    ".base": ["SSE_HEADERS", "Dialect", "Headers"],
    ".error_shape": ["ErrorShape"],
    ".native": ["NATIVE_ERRORS", "NativeDialect"],
    ".openai": ["OPENAI_ERRORS", "OpenAICompletionDialect", "OpenAIStreamDialect"],
    ".raw": ["RawSSEDialect"],
}

if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS)

__all__ = [
    "ANTHROPIC_ERRORS",
    "NATIVE_ERRORS",
    "OPENAI_ERRORS",
    "SSE_HEADERS",
    "AnthropicMessageDialect",
    "AnthropicStreamDialect",
    "Dialect",
    "ErrorShape",
    "Headers",
    "NativeDialect",
    "OpenAICompletionDialect",
    "OpenAIStreamDialect",
    "RawSSEDialect",
]
