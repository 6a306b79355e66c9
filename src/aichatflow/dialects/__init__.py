"""Output dialects: each reads ``ChatEvent`` batches and writes one wire format.

Names load on first use (``aichatflow/_lazy.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

if TYPE_CHECKING:
    from .base import SSE_HEADERS, Dialect, Headers
    from .native import NativeDialect
    from .openai import OpenAICompletionDialect, OpenAIStreamDialect
    from .raw import RawSSEDialect

_EXPORTS = {
    ".base": ["SSE_HEADERS", "Dialect", "Headers"],
    ".native": ["NativeDialect"],
    ".openai": ["OpenAICompletionDialect", "OpenAIStreamDialect"],
    ".raw": ["RawSSEDialect"],
}

if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS)

__all__ = [
    "SSE_HEADERS",
    "Dialect",
    "Headers",
    "NativeDialect",
    "OpenAICompletionDialect",
    "OpenAIStreamDialect",
    "RawSSEDialect",
]
